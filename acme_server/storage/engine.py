"""The async engine: database URL normalisation and per-engine connection setup (SQLite pragmas and
BEGIN IMMEDIATE, PostgreSQL pool)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

from acme_server.errors import ConfigError, Unavailable

SQLITE = "sqlite+aiosqlite"
POSTGRESQL = "postgresql+asyncpg"

_SCHEMES = {
    "sqlite": SQLITE,
    SQLITE: SQLITE,
    "postgresql": POSTGRESQL,
    "postgres": POSTGRESQL,
    POSTGRESQL: POSTGRESQL,
}
_HINT = "use sqlite:///path, a file path, or postgresql://user@host/db"
DEFAULT_BUSY_TIMEOUT = 30.0  # seconds a SQLite writer waits for another process's write lock
BUSY_RETRY_AFTER = 5  # seconds a client is told to wait when the lock was not released in time


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


def create_engine(
    url: str, *, read_only: bool = False, busy_timeout: float = DEFAULT_BUSY_TIMEOUT
) -> AsyncEngine:
    """An engine for a normalised URL, configured for its database. A read-only engine's transactions
    see one snapshot and refuse writes (PostgreSQL: BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
    SQLite: a deferred BEGIN on a query_only connection, WAL's snapshot).

    Every setting is made once per connection, never per transaction: a per-transaction isolation
    level or pre-ping costs PostgreSQL round trips at checkout and check-in (measured: a one-SELECT
    read went from 9 round trips to 3). A dead pooled connection is caught at checkout without I/O
    instead (_discard_closed)."""
    url = normalize_url(url)
    if url.startswith(SQLITE):
        return _sqlite_engine(url, read_only=read_only, busy_timeout=busy_timeout)
    options: dict[str, Any] = {}
    if read_only:
        options = {"isolation_level": "REPEATABLE READ", "execution_options": {"postgresql_readonly": True}}
    engine = create_async_engine(
        url,
        pool_size=10,
        max_overflow=10,
        pool_timeout=30,
        pool_recycle=1800,  # stay under typical proxy/firewall idle cuts
        **options,
    )
    event.listen(engine.sync_engine, "checkout", _discard_closed)
    return engine


def _discard_closed(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
    """A pooled asyncpg connection whose server end went away (restart, failover, idle kill) is known
    closed as soon as the event loop saw the socket end; the pool then replaces it (SQLAlchemy's
    custom pessimistic-disconnect recipe) — what pool_pre_ping does, without a round trip."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the pooled connection was closed by the server")


def _sqlite_engine(url: str, *, read_only: bool, busy_timeout: float) -> AsyncEngine:
    database = make_url(url).database
    assert database is not None  # normalize_url rejects a missing path
    if not database.startswith("file:") and not Path(database).parent.is_dir():
        raise ConfigError(f"the directory of the SQLite database {database!r} does not exist")
    engine = create_async_engine(url, connect_args={"timeout": busy_timeout})
    busy_ms = round(busy_timeout * 1000)

    def on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        _sqlite_on_connect(dbapi_connection, busy_ms)
        if read_only:
            # query_only: a write inside read() fails loudly, as in PostgreSQL's read-only transactions.
            dbapi_connection.execute("PRAGMA query_only = 1")

    # SQLAlchemy's documented recipe (SQLite dialect docs, "Enabling Non-Legacy SQLite Transactional
    # Modes", aiosqlite variant): the driver stops emitting BEGIN itself and we emit our own.
    event.listen(engine.sync_engine, "connect", on_connect)
    event.listen(engine.sync_engine, "begin", _sqlite_begin_read if read_only else _sqlite_begin_write)
    event.listen(engine.sync_engine, "handle_error", _busy_as_unavailable)
    return engine


def create_sqlite_loop_engine(
    url: str, *, read_only: bool, busy_timeout: float = DEFAULT_BUSY_TIMEOUT
) -> Engine:
    """SQLite on the event loop's own thread (pysqlite, no aiosqlite thread hand-off): each aiosqlite
    call is a round trip to its thread and back (BEGIN, execute, fetch, close, commit and the pool's
    reset: about eight per transaction), while a statement by key takes microseconds and a WAL
    commit's fsync about half a millisecond here.

    Readers (read_only): in WAL mode a reader never waits for a writer. The pool never blocks
    (max_overflow=-1): a checkout that waited on the loop thread would wait for connections only
    the loop can give back.
    Writers: busy_timeout 0, so BEGIN IMMEDIATE never sleeps on the loop when another process holds
    the write lock; it fails at once (Unavailable) and Storage.transaction retries it with
    asyncio.sleep until `busy_timeout` has passed. Once BEGIN IMMEDIATE holds the lock, nothing in
    the transaction waits for another connection."""
    sync_url = make_url(url).set(drivername="sqlite+pysqlite")
    engine = sqlalchemy.create_engine(
        sync_url,
        poolclass=QueuePool,
        pool_size=8 if read_only else 1,
        max_overflow=-1,
        connect_args={"timeout": busy_timeout if read_only else 0, "check_same_thread": False},
    )
    busy_ms = round(busy_timeout * 1000) if read_only else 0

    def on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        # journal_mode is already WAL (set by the aiosqlite engine that migrated the file)
        _sqlite_on_connect(dbapi_connection, busy_ms, switch_to_wal=False)
        if read_only:
            dbapi_connection.execute("PRAGMA query_only = 1")

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "begin", _sqlite_begin_read_on_driver if read_only else _sqlite_begin_write)
    event.listen(engine, "handle_error", _busy_as_unavailable)
    return engine


def _busy_as_unavailable(context: ExceptionContext) -> None:
    """SQLITE_BUSY after the busy timeout (another process holds the write lock) is a typed error the
    WFE answers with 503 and Retry-After, not an unexpected 500: the request may simply be retried."""
    if "database is locked" in str(context.original_exception):
        raise Unavailable(
            "the database is busy; retry shortly", retry_after=BUSY_RETRY_AFTER
        ) from context.original_exception


_WAL_ATTEMPTS = 100


def _sqlite_on_connect(dbapi_connection: Any, busy_ms: int, *, switch_to_wal: bool = True) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # busy_timeout first, so switching to WAL waits for a concurrent opener instead of failing.
        cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
        if switch_to_wal:
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


def _sqlite_begin_write(connection: Connection) -> None:
    """Writers take the write lock at BEGIN: a deferred transaction that later upgrades its lock fails
    with "database is locked" without waiting when another writer got there first (WAL snapshot rule)."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_begin_read(connection: Connection) -> None:
    """Readers begin deferred: their snapshot starts at the first read (WAL)."""
    connection.exec_driver_sql("BEGIN")


def _sqlite_begin_read_on_driver(connection: Connection) -> None:
    """The same on a loop-thread reader, straight on pysqlite: a deferred BEGIN cannot fail on a lock,
    and SQLAlchemy's execution context around it cost more than the read it opens. The COMMIT at the
    end is pysqlite's commit(), which SQLAlchemy calls anyway."""
    connection.connection.driver_connection.execute("BEGIN")  # type: ignore[union-attr]
