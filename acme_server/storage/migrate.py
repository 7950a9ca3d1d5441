"""Schema migrations on open: Alembic, configured in code (no alembic.ini), upgraded to head under a
lock so that workers and replicas starting together migrate once."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from acme_server.errors import ConfigError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# Any constant bigint works; this one spells "acme_mig" so it is recognisable in pg_locks.
_PG_LOCK_KEY = int.from_bytes(b"acme_mig", "big") & 0x7FFF_FFFF_FFFF_FFFF


def alembic_config(connection: Connection | None = None, *, status_url: str | None = None) -> Config:
    """The Alembic configuration; migrations/env.py runs on `connection` (None only for offline
    inspection of the scripts, e.g. heads). `status_url`: the base status URL of the migrating process,
    which revision 0014 stores on the CAs that had none (what that process wrote into certificates)."""
    config = Config()
    # Config values are %-interpolated: escape a path that contains '%'.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.attributes["connection"] = connection
    config.attributes["status_url"] = status_url
    return config


def head() -> str:
    """The newest revision the code knows."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision


async def upgrade(engine: AsyncEngine, *, status_url: str | None = None) -> None:
    """Bring the database to head in one transaction. PostgreSQL: a transaction-scoped advisory lock
    serialises concurrent openers (the second waits, then finds nothing to do; DDL is transactional so
    a failed upgrade leaves nothing behind). SQLite: the write transaction starts with BEGIN IMMEDIATE
    (engine.py), which is the same exclusion for every other connection to the file."""
    async with engine.connect() as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        await connection.run_sync(_upgrade, status_url)


async def check_current(read_engine: AsyncEngine) -> None:
    """Refuse to run on a database that is not at this code's head (a read-only process may not
    migrate; the main server does). Looks through the read engine: no write lock on SQLite."""
    async with read_engine.connect() as connection:
        current = await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
    if current != head():
        raise ConfigError(
            f"the database schema is at revision {current!r}, not {head()!r}; start the main server "
            "(acme-server serve) once to migrate it"
        )


def is_known(revision: str) -> bool:
    """Whether `revision` is one of this code's migrations (a newer release's is not)."""
    return any(
        script.revision == revision
        for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()
    )


def current_revision(connection: Connection) -> str | None:
    """The revision the database on `connection` is at (None: no schema yet)."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade_to(connection: Connection, revision: str) -> None:
    """Migrate the database on `connection` to `revision`, inside the caller's transaction (a
    restore: storage/backup.py builds the schema its file was written from, then goes on to head)."""
    command.upgrade(alembic_config(connection), revision)


def _upgrade(connection: Connection, status_url: str | None) -> None:
    config = alembic_config(connection, status_url=status_url)
    current = MigrationContext.configure(connection).get_current_revision()
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    if current is not None and current not in known:
        # A newer release migrated this database (e.g. a rolled-back deploy): say so in one line rather
        # than let Alembic fail with "Can't locate revision".
        raise ConfigError(
            f"the database schema is at revision {current!r}, which this version of acme-server does not "
            "know; run the release that migrated it"
        )
    command.upgrade(config, "head")
