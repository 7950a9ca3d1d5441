"""`acme-server`: serve, status-server, ca, policy, profile, cert, audit, backup, restore. Each command calls
services; a CAError becomes `error: <detail>` and exit 1 (the CLI's one error edge); a usage error is a
short usage line, one `error:` line and exit 2; anything else stays loud."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from acme_server.cli import (
    audit,
    backup,
    cas,
    certificates,
    completion,
    eab,
    policies,
    profiles,
    renewals,
    serve,
    status_server,
    syncs,
    tokens,
)
from acme_server.cli.common import Command, settings_options
from acme_server.config import load_settings
from acme_server.services.platform.audit import acting, shell_actor
from acme_server.services.runtime import open_runtime
from ca_core.errors import CAError

USAGE_ERROR = 2  # as argparse and POSIX utilities: the command line itself is wrong
BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader went away


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is two lines: `usage: PROG [options] ...` and `error: ...`, not
    the full usage of a command with twenty options. Subcommand parsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"usage: {self.prog} ... (see {self.prog} --help)\nerror: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="acme-server", description="Private CA with an ACME server.", parents=[settings_options()]
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = (
        serve,
        status_server,
        cas,
        policies,
        profiles,
        certificates,
        renewals,
        syncs,
        eab,
        tokens,
        audit,
        backup,
        completion,
    )
    for module in modules:
        module.register(commands)
    return parser


async def _run(command: Command, args: argparse.Namespace) -> int:
    settings = load_settings(vars(args), os.environ)
    rt = await open_runtime(settings)
    try:
        with acting(shell_actor()):
            return await command(rt, args)
    finally:
        await rt.storage.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = _dispatch(parser, args)
        sys.stdout.flush()  # inside the try: `acme-server cert list | head` closes the pipe early
        return code
    except BrokenPipeError:
        # The reader is gone: nothing more to say, and no traceback (Python docs, "Note on SIGPIPE").
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    try:
        if args.command == "completion":
            print(completion.script(parser, args.shell), end="")
            return 0
        if args.command == "serve":
            return serve.run(args)
        if args.command == "status-server":
            return status_server.run(args)
        if args.command in ("backup", "restore"):
            return backup.run(args)  # no Runtime: neither migrates the database nor needs the KEK
        result: int = asyncio.run(_run(args.handler, args))
        return result
    except CAError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
