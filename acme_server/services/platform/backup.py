"""Backup and restore of a whole database (docs/backup.md): the file handling around
storage/backup.py — a backup is written to a temporary file of mode 0600 and renamed into place only
when complete, so a failed run never leaves a partial backup under the name asked for."""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from pathlib import Path

from acme_server.errors import Malformed
from acme_server.services.platform import audit
from acme_server.storage import backup as storage_backup
from acme_server.storage.backup import BackupSummary

__all__ = ["BackupSummary", "backup_database", "restore_database"]


async def backup_database(database_url: str, path: Path) -> BackupSummary:
    """A consistent backup of the database at `database_url`, taken while servers run, to `path`."""
    temporary = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise Malformed(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(descriptor, "wb") as out:
            summary = await storage_backup.write_backup(database_url, out, now=datetime.now(UTC))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    return summary


async def restore_database(
    database_url: str, path: Path, *, force: bool = False, actor: audit.Actor | None = None
) -> BackupSummary:
    """Load the backup at `path` into the database at `database_url`: all of it or nothing. Refuses a
    database that holds data unless `force` (then everything in it is replaced). The restored database
    holds one more audit row than the file: the restore itself, by `actor` (the CLI: its shell user)."""
    try:
        source = path.open("rb")
    except OSError as exc:
        raise Malformed(f"cannot read {path}: {exc.strerror}") from None
    row = audit.new_row(
        actor or audit.current(), "database.restore", "database", None, {"file": str(path), "force": force}
    )
    with source:
        summary = await storage_backup.restore_backup(
            database_url, source, name=str(path), force=force, now=datetime.now(UTC), audit=row
        )
    audit.log_row(row)
    return summary
