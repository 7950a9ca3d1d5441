"""`acme-server`: serve, status-server, ca, policy, profile, cert, backup, restore. Each command calls
services; a CAError becomes `error: <detail>` and exit 1 (the CLI's one error edge); anything else stays
loud."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from acme_server.cli import (
    backup,
    cas,
    certificates,
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
from acme_server.services.runtime import open_runtime
from ca_core.errors import CAError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
        backup,
    )
    for module in modules:
        module.register(commands)
    return parser


async def _run(command: Command, args: argparse.Namespace) -> int:
    settings = load_settings(vars(args), os.environ)
    rt = await open_runtime(settings)
    try:
        return await command(rt, args)
    finally:
        await rt.storage.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
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
