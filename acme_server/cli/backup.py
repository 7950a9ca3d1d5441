"""`acme-server backup` / `restore`: the whole database in one portable file, taken while the server
runs; restored all or nothing into an empty database of either engine (docs/backup.md)."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import Any

from acme_server.cli.common import add_json_flag, emit, progress, settings_options
from acme_server.config import load_settings
from acme_server.services.platform.audit import shell_actor
from acme_server.services.platform.backup import BackupSummary, backup_database, restore_database


def register(commands: Any) -> None:
    backup: argparse.ArgumentParser = commands.add_parser(
        "backup",
        help="write a consistent backup of the database (safe while servers run; keys stay sealed)",
        parents=[settings_options()],
    )
    backup.add_argument("out_file", metavar="OUT_FILE", help="the backup file to write (mode 0600)")
    add_json_flag(backup)
    restore: argparse.ArgumentParser = commands.add_parser(
        "restore",
        help="load a backup into an empty database (SQLite or PostgreSQL), all or nothing",
        parents=[settings_options()],
    )
    restore.add_argument("in_file", metavar="IN_FILE", help="a file written by acme-server backup")
    restore.add_argument(
        "--force", action="store_true", help="replace everything in a database that already holds data"
    )
    add_json_flag(restore)


def _view(summary: BackupSummary, file: str) -> dict[str, Any]:
    return {
        "file": file,
        "schemaRevision": summary.revision,
        "sourceEngine": summary.engine,
        "createdAt": summary.created_at,
        "rows": sum(summary.rows.values()),
        "tables": summary.rows,
    }


async def _copy(args: argparse.Namespace, database_url: str) -> BackupSummary:
    if args.command == "backup":
        async with progress(f"backing up to {args.out_file}"):
            return await backup_database(database_url, Path(args.out_file))
    async with progress(f"restoring {args.in_file}"):
        return await restore_database(database_url, Path(args.in_file), force=args.force, actor=shell_actor())


def run(args: argparse.Namespace) -> int:
    database_url = load_settings(vars(args), os.environ).database_url
    summary = asyncio.run(_copy(args, database_url))
    record = _view(summary, args.out_file if args.command == "backup" else args.in_file)
    if args.json:
        emit(args, record)
    else:
        done = "backed up" if args.command == "backup" else "restored"
        counted = f"{record['rows']} rows of {len(summary.rows)} tables"
        print(f"{done} {counted} (schema {summary.revision}): {record['file']}")
    return 0
