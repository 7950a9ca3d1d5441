"""Helpers shared by CLI commands: output (text or --json), key=value parsing, file reading, and the
progress line of long operations (on a terminal only)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from acme_server.config import EVERY_COMMAND, SPECS
from acme_server.errors import Malformed
from acme_server.services.runtime import Runtime
from ca_core import metadata

Command = Callable[[Runtime, argparse.Namespace], Awaitable[int]]


# The event loop and HTTP parser every uvicorn server of ours runs on: uvloop and httptools (C) instead
# of asyncio's default loop and the pure-Python h11 parser (docs/performance.md "Server runtime").
FAST_SERVER: dict[str, Any] = {"loop": "uvloop", "http": "httptools"}


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return value


def emit(args: argparse.Namespace, record: Mapping[str, Any]) -> None:
    """One object: `key: value` lines, or JSON with --json."""
    if getattr(args, "json", False):
        print(json.dumps(_plain(record), indent=2))
        return
    for key, value in record.items():
        value = _plain(value)
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        print(f"{key}: {'' if value is None else value}")


def emit_table(args: argparse.Namespace, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps([_plain(r) for r in rows], indent=2))
        return
    cells = [[str(_plain(r.get(c)) if r.get(c) is not None else "") for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def parse_pairs(items: Sequence[str] | None, *, option: str) -> dict[str, str]:
    """["team=payments", "env=prod"] -> {"team": "payments", "env": "prod"}."""
    return metadata.parse_pairs(items or (), field=option)


def read_input(path: str, *, what: str) -> bytes:
    """A file's bytes, or standard input for '-'."""
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise Malformed(f"cannot read {what} {path}: {exc.strerror}") from None


def read_json_object(path: str, *, what: str) -> dict[str, Any]:
    """A JSON object from a file ('-': standard input); anything else is a one-line error."""
    try:
        loaded = json.loads(read_input(path, what=what))
    except json.JSONDecodeError as exc:
        raise Malformed(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(loaded, dict):
        raise Malformed(f"{path}: a {what} is a JSON object")
    return loaded


def write_output(path: str, data: bytes, *, private: bool = False) -> None:
    target = Path(path)
    try:
        if private:
            target.touch(mode=0o600, exist_ok=True)
            target.chmod(0o600)
        target.write_bytes(data)
    except OSError as exc:
        raise Malformed(f"cannot write {path}: {exc.strerror}") from None


class _NoPinFlag(argparse.Action):
    """`--pkcs11-pin VALUE` is refused (a flag's value is visible to every user in `ps`); defined so
    that argparse does not take it for an abbreviation of --pkcs11-pin-file. The value is not echoed."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        parser.error("the PKCS#11 PIN is never a flag value: use --pkcs11-pin-file FILE or ACME_PKCS11_PIN")


class Progress:
    """One line on standard error, redrawn in place: `LABEL: DONE/TOTAL NOTE (Ns)`. Drawn only when
    standard error is a terminal, so piped or redirected output (and a script reading stdout) never
    holds it; the line is cleared when the operation ends, leaving the command's own output alone."""

    def __init__(self, label: str, total: int | None = None, *, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.note = ""
        self._stream = stream if stream is not None else sys.stderr
        self.shown = self._stream.isatty()
        self._started = time.monotonic()

    def advance(self, done: int, total: int | None = None, note: str = "") -> None:
        """`done` of `total` finished (the total may only be known once the work is listed)."""
        self.done, self.note = done, note
        if total is not None:
            self.total = total
        self.draw()

    def draw(self) -> None:
        if not self.shown:
            return
        count = f" {self.done}/{self.total}" if self.total is not None else ""
        note = f" {self.note}" if self.note else ""
        elapsed = int(time.monotonic() - self._started)
        # \r back to the line's start, ESC[K clears what a longer earlier line left (ECMA-48 EL)
        self._stream.write(f"\r{self.label}:{count}{note} ({elapsed}s)\x1b[K")
        self._stream.flush()

    def clear(self) -> None:
        if self.shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()


@asynccontextmanager
async def progress(label: str, total: int | None = None, *, every: float = 0.5) -> AsyncIterator[Progress]:
    """A Progress for the block, redrawn every `every` seconds too (so a step that reports nothing,
    such as signing a large CRL, still shows it is alive), cleared at the end."""
    line = Progress(label, total)
    line.draw()  # at once: the block may finish without ever yielding to the ticker
    ticker: asyncio.Task[None] | None = None
    if line.shown:

        async def tick() -> None:
            while True:
                line.draw()
                await asyncio.sleep(every)

        ticker = asyncio.create_task(tick())
    try:
        yield line
    finally:
        if ticker is not None:
            ticker.cancel()
            with suppress(asyncio.CancelledError):
                await ticker
        line.clear()


def settings_options() -> argparse.ArgumentParser:
    """Options every command accepts, before or after the command name."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--config", default=argparse.SUPPRESS, help="TOML config file (env ACME_SERVER_CONFIG)"
    )
    add_setting_flags(parent, EVERY_COMMAND)
    parent.add_argument("--pkcs11-pin", action=_NoPinFlag, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parent


def add_setting_flags(parser: argparse.ArgumentParser, command: str) -> None:
    """A --NAME flag for each setting declared (acme_server/config.py) as a flag of `command`; its
    value is parsed and checked by the setting's own parser in load_settings, not by argparse.
    Flags of every command default to SUPPRESS, so a subcommand's parser does not reset them."""
    for name, spec in SPECS.items():
        if command not in spec.flag_on:
            continue
        flag = "--" + name.replace("_", "-")
        default = argparse.SUPPRESS if command == EVERY_COMMAND else None
        if spec.is_switch:
            parser.add_argument(flag, action="store_const", const=True, default=default, help=spec.help)
        else:
            parser.add_argument(
                flag, metavar=spec.metavar, choices=spec.choices, default=default, help=spec.help
            )


def leaf(
    commands: Any, name: str, handler: Command, help_text: str, *, json_output: bool = True
) -> argparse.ArgumentParser:
    """A subcommand that takes the settings options (and --json) and runs `handler`."""
    parser: argparse.ArgumentParser = commands.add_parser(name, help=help_text, parents=[settings_options()])
    parser.set_defaults(handler=handler)
    if json_output:
        add_json_flag(parser)
    return parser
