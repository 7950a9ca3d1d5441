"""The async engine: database URL normalisation and per-engine connection setup (SQLite pragmas and
BEGIN IMMEDIATE, PostgreSQL pool)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from acme_server.errors import ConfigError

SQLITE = "sqlite+aiosqlite"
POSTGRESQL = "postgresql+asyncpg"

# Execution option a connection carries when Storage.read() opened it.
READ_ONLY = "acme_read_only"

_SCHEMES = {
    "sqlite": SQLITE,
    SQLITE: SQLITE,
    "postgresql": POSTGRESQL,
    "postgres": POSTGRESQL,
    POSTGRESQL: POSTGRESQL,
}
_HINT = "use sqlite:///path, a file path, or postgresql://user@host/db"
_BUSY_TIMEOUT_MS = 30_000


def normalize_url(url: str) -> str:
    """The async-driver URL for `url`: a plain path or sqlite:/// becomes sqlite+aiosqlite:///,
    postgresql:// and postgres:// become postgresql+asyncpg://. Anything else is a ConfigError."""
    url = url.strip()
    if not url:
        raise ConfigError(f"the database URL is empty; {_HINT}")
    if "://" not in url:
        url = f"sqlite:///{url}"
    scheme, rest = url.split("://", 1)
    driver = _SCHEMES.get(scheme.lower())
    if driver is None:
        # Never echo the URL itself: it may carry a password.
        raise ConfigError(f"unsupported database URL scheme {scheme!r}; {_HINT}")
    normalized = f"{driver}://{rest}"
    try:
        parsed = make_url(normalized)
    except ArgumentError:
        raise ConfigError(f"the database URL is malformed; {_HINT}") from None
    if driver == SQLITE and parsed.database in (None, "", ":memory:"):
        raise ConfigError("an in-memory SQLite database is not shared between connections; give a file path")
    return normalized


def create_engine(url: str) -> AsyncEngine:
    """An engine for a normalised URL, configured for its database."""
    url = normalize_url(url)
    if url.startswith(SQLITE):
        return _sqlite_engine(url)
    return create_async_engine(
        url,
        pool_size=10,
        max_overflow=10,
        pool_timeout=30,
        pool_recycle=1800,  # stay under typical proxy/firewall idle cuts
        pool_pre_ping=True,  # a restarted server or failover does not poison the pool
    )


def _sqlite_engine(url: str) -> AsyncEngine:
    database = make_url(url).database
    assert database is not None  # normalize_url rejects a missing path
    if not database.startswith("file:") and not Path(database).parent.is_dir():
        raise ConfigError(f"the directory of the SQLite database {database!r} does not exist")
    engine = create_async_engine(url, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000})
    # SQLAlchemy's documented recipe (SQLite dialect docs, "Enabling Non-Legacy SQLite Transactional
    # Modes", aiosqlite variant): the driver stops emitting BEGIN itself and we emit our own.
    event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
    event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
    return engine


_WAL_ATTEMPTS = 100


def _sqlite_on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    dbapi_connection.isolation_level = None
    record.info["query_only"] = False
    cursor = dbapi_connection.cursor()
    try:
        # busy_timeout first, so switching to WAL waits for a concurrent opener instead of failing.
        cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        _switch_to_wal(cursor)
        # Only effective outside a transaction, which a fresh connection is.
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """SQLite does not call the busy handler for a journal-mode change that races another connection
    on a brand-new file, so retry that one statement for a while (WAL is then stored in the file)."""
    for attempt in range(_WAL_ATTEMPTS):
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == _WAL_ATTEMPTS - 1:
                raise
            time.sleep(0.05)


def _sqlite_on_begin(connection: Connection) -> None:
    """Writers take the write lock at BEGIN: a deferred transaction that later upgrades its lock fails
    with "database is locked" without waiting when another writer got there first (WAL snapshot rule).
    Readers begin deferred and are made query_only so a write inside read() fails loudly, as on
    PostgreSQL's read-only transactions."""
    read_only = bool(connection.get_execution_options().get(READ_ONLY, False))
    if connection.info.get("query_only") != read_only:
        connection.exec_driver_sql(f"PRAGMA query_only = {int(read_only)}")
        connection.info["query_only"] = read_only
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
