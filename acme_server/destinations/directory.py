"""The `directory` destination: cert.pem, chain.pem, fullchain.pem and privkey.pem in one directory,
each written atomically (a temporary file in the same directory, then rename), the key with mode
0600; then an optional reload command (e.g. `systemctl reload nginx`) with a timeout."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from acme_server.destinations.base import Bundle, DestinationError, PushResult
from ca_core.documents import read_object, read_string
from ca_core.errors import InvalidSetting

_KEYS: Final = ("path", "reloadCommand", "reloadTimeout")
DEFAULT_RELOAD_TIMEOUT: Final = 30.0
_PUBLIC_MODE: Final = 0o644
_KEY_MODE: Final = 0o600
_OUTPUT_TAIL: Final = 500  # characters of a failed reload command's output kept in the error


@dataclass(frozen=True)
class DirectoryTarget:
    path: Path
    reload_command: tuple[str, ...] | None
    reload_timeout: float

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
            detail += f"; ran {shlex.join(self.reload_command)}"
        return PushResult(detail, {"path": str(self.path), "serial": bundle.serial})

    def _write_all(self, files: Mapping[str, tuple[str, int]]) -> None:
        if not self.path.is_dir():
            self.path.mkdir(mode=0o700, parents=True)
        for name, (text, mode) in files.items():
            _write_atomically(self.path / name, text.encode(), mode)

    async def _reload(self) -> None:
        assert self.reload_command is not None
        command = shlex.join(self.reload_command)
        try:
            process = await asyncio.create_subprocess_exec(
                *self.reload_command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
            )
        except OSError as exc:
            raise DestinationError(
                f"files written, but reload command {command} did not start: {exc}"
            ) from None
        try:
            output, _ = await asyncio.wait_for(process.communicate(), self.reload_timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise DestinationError(
                f"files written, but reload command {command} timed out after {self.reload_timeout:g}s"
            ) from None
        if process.returncode != 0:
            tail = output.decode(errors="replace").strip()[-_OUTPUT_TAIL:]
            raise DestinationError(
                f"files written, but reload command {command} exited {process.returncode}"
                + (f": {tail}" if tail else "")
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


def _reload_command(value: object) -> tuple[str, ...]:
    path = "config.reloadCommand"
    if isinstance(value, str):
        try:
            words = tuple(shlex.split(value))
        except ValueError as exc:
            raise InvalidSetting(path, f"cannot be split into words: {exc}") from None
    elif isinstance(value, list | tuple):
        words = tuple(read_string(item, f"{path}[{i}]") for i, item in enumerate(value))
    else:
        raise InvalidSetting(path, "must be a command line or a list of words")
    if not words or not words[0]:
        raise InvalidSetting(path, "must name a program")
    return words


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

    def configure(self, config: Mapping[str, Any], secrets: Mapping[str, str]) -> DirectoryTarget:
        document = read_object(config, "config", _KEYS, root="config")
        if "path" not in document:
            raise InvalidSetting("config.path", "is required: the directory to write the files to")
        path = Path(read_string(document["path"], "config.path"))
        if not path.is_absolute():
            raise InvalidSetting("config.path", "must be an absolute path")
        if path.exists() and not path.is_dir():
            raise InvalidSetting("config.path", f"{path} exists and is not a directory")
        if secrets:
            raise InvalidSetting("secrets", "the directory destination takes no secrets")
        command = document.get("reloadCommand")
        return DirectoryTarget(
            path=path,
            reload_command=None if command is None else _reload_command(command),
            reload_timeout=_timeout(document.get("reloadTimeout", DEFAULT_RELOAD_TIMEOUT)),
        )
