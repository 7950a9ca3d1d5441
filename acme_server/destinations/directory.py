"""The `directory` destination: cert.pem, chain.pem, fullchain.pem and privkey.pem in one directory,
each written atomically (a temporary file in the same directory, then rename), the key with mode
0600; then an optional reload command with a timeout. A sync only *names* the command: the commands
themselves come from the server's configuration (`[reload_commands]`), never from the API, and run
without a shell; their output goes to the server log, never into the sync's last error, which every
role may read (docs/security.md "Sync reload commands")."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from acme_server.destinations.base import Bundle, DestinationError, DestinationHost, PushResult
from ca_core.documents import read_object, read_string
from ca_core.errors import InvalidSetting

_KEYS: Final = ("path", "reloadCommand", "reloadTimeout")
DEFAULT_RELOAD_TIMEOUT: Final = 30.0
_PUBLIC_MODE: Final = 0o644
_KEY_MODE: Final = 0o600
_OUTPUT_TAIL: Final = 2000  # characters of a failed reload command's output in the server log
log = logging.getLogger("acme_server.syncs")


@dataclass(frozen=True)
class DirectoryTarget:
    path: Path
    reload_name: str | None  # a name from the server's [reload_commands]
    reload_command: tuple[str, ...] | None  # its words
    reload_timeout: float
    host: DestinationHost

    async def push(self, bundle: Bundle, state: Mapping[str, Any]) -> PushResult:
        files = {
            "cert.pem": (bundle.certificate_pem, _PUBLIC_MODE),
            "chain.pem": (bundle.chain_pem, _PUBLIC_MODE),
            "fullchain.pem": (bundle.fullchain_pem, _PUBLIC_MODE),
        }
        if bundle.private_key_pem is not None:
            files["privkey.pem"] = (bundle.private_key_pem, _KEY_MODE)
        try:
            await asyncio.to_thread(self._write_all, files)
        except OSError as exc:
            raise DestinationError(f"cannot write to {self.path}: {exc.strerror or exc}") from None
        detail = f"wrote {', '.join(files)} to {self.path}"
        if self.reload_command is not None:
            await self._reload()
            detail += f"; ran reload command {self.reload_name!r}"
        return PushResult(detail, {"path": str(self.path), "serial": bundle.serial})

    def _write_all(self, files: Mapping[str, tuple[str, int]]) -> None:
        if not self.path.is_dir():
            self.path.mkdir(mode=0o700, parents=True)
        for name, (text, mode) in files.items():
            _write_atomically(self.path / name, text.encode(), mode)

    async def _reload(self) -> None:
        assert self.reload_command is not None
        name = self.reload_name
        if self.host.running_as_root() and not self.host.run_as_root:
            raise DestinationError(
                f"files written, but reload command {name!r} was not run: the server runs as root"
                " (run it as a dedicated user, or set reload_as_root = true)"
            )
        try:
            process = await asyncio.create_subprocess_exec(
                *self.reload_command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
        except OSError as exc:
            log.warning("reload command %r (%s) did not start: %s", name, self.reload_command[0], exc)
            raise DestinationError(
                f"files written, but reload command {name!r} did not start (see the server log)"
            ) from None
        try:
            output, _ = await asyncio.wait_for(process.communicate(), self.reload_timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise DestinationError(
                f"files written, but reload command {name!r} timed out after {self.reload_timeout:g}s"
            ) from None
        if process.returncode != 0:
            tail = output.decode(errors="replace").strip()[-_OUTPUT_TAIL:]
            log.warning("reload command %r exited %s; its output: %s", name, process.returncode, tail)
            raise DestinationError(
                f"files written, but reload command {name!r} exited {process.returncode}"
                " (its output is in the server log)"
            )


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Readers see the old file or the new one, never a part: write a temporary file next to it
    (created 0600, so a key is never readable by others, not even briefly), then rename over it."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _reload_command(value: object, host: DestinationHost) -> tuple[str, tuple[str, ...]]:
    """The name of one of the server's configured reload commands, and its words."""
    path = "config.reloadCommand"
    configured = ", ".join(sorted(host.reload_commands)) or "none are configured"
    if not isinstance(value, str) or value not in host.reload_commands:
        shown = repr(value) if isinstance(value, str) and len(value) <= 64 else "this value"
        raise InvalidSetting(
            path,
            f"{shown} is not one of the server's reload commands ([reload_commands] in its"
            f" configuration file; {configured}); a sync names a command, it cannot give one",
        )
    return value, host.reload_commands[value]


def _check_inside(path: Path, roots: tuple[Path, ...]) -> None:
    """With sync_directories configured, `path` (its symbolic links resolved, so none leads out) lies
    in one of them. Checked at every push, so a sync stored before the setting changed obeys it."""
    if not roots:
        return
    resolved = Path(os.path.realpath(path))
    if not any(resolved.is_relative_to(os.path.realpath(root)) for root in roots):
        shown = ", ".join(str(root) for root in roots)
        raise InvalidSetting("config.path", f"must be inside one of the server's sync_directories ({shown})")


def _timeout(value: object) -> float:
    path = "config.reloadTimeout"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidSetting(path, "must be a number of seconds")
    if not 0 < value <= 600:
        raise InvalidSetting(path, "must be between 0 and 600 seconds")
    return float(value)


class DirectoryDestination:
    type_name = "directory"
    secret_names: tuple[str, ...] = ()

    def admin_reason(self, config: Mapping[str, Any], host: DestinationHost) -> str | None:
        if config.get("reloadCommand") is not None:
            return "only an admin may set config.reloadCommand of a directory sync"
        if not host.directory_roots:
            return (
                "only an admin may choose where a directory sync writes while the server's"
                " configuration names no sync_directories"
            )
        return None

    def configure(
        self, config: Mapping[str, Any], secrets: Mapping[str, str], host: DestinationHost
    ) -> DirectoryTarget:
        document = read_object(config, "config", _KEYS, root="config")
        if "path" not in document:
            raise InvalidSetting("config.path", "is required: the directory to write the files to")
        path = Path(read_string(document["path"], "config.path"))
        if not path.is_absolute():
            raise InvalidSetting("config.path", "must be an absolute path")
        if path.exists() and not path.is_dir():
            raise InvalidSetting("config.path", f"{path} exists and is not a directory")
        _check_inside(path, host.directory_roots)
        if secrets:
            raise InvalidSetting("secrets", "the directory destination takes no secrets")
        name, words = (None, None)
        if document.get("reloadCommand") is not None:
            name, words = _reload_command(document["reloadCommand"], host)
        return DirectoryTarget(
            path=path,
            reload_name=name,
            reload_command=words,
            reload_timeout=_timeout(document.get("reloadTimeout", DEFAULT_RELOAD_TIMEOUT)),
            host=host,
        )
