"""Rate-limit counters (services/platform/rate_limits.py) where a write is cheap: beside the used nonces
(storage/nonce_store.py), so every worker and replica counts into the same buckets without an fsync.

A bucket is (key, window start); `add` is one upsert that increments it and returns the new count,
`peek` one read of the largest count among some keys. SQLite: a table in the `<db>-nonces` file
(WAL, synchronous = OFF). PostgreSQL: the UNLOGGED acme_rate_counters table (migration 0009), each
statement autocommit with synchronous_commit off for itself. Losing counters (a power loss, a
PostgreSQL crash emptying an UNLOGGED table) only lets a limit start counting again; buckets are
purged once their window is over."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import Final, Protocol

from acme_server.storage.driver_pool import DriverPool
from acme_server.storage.nonce_store import PURGE_EVERY


class RateCounterStore(Protocol):
    async def add(self, key: str, *, window_start: int, expires_at: int) -> int:
        """Count one event in bucket (key, window_start); the bucket's count after it."""
        ...

    async def peek(self, keys: Sequence[str], *, window_start: int) -> int:
        """The largest count among the buckets (key, window_start) of `keys`; 0 for none."""
        ...

    async def close(self) -> None: ...


_SQLITE_TABLE: Final = (
    "CREATE TABLE IF NOT EXISTS rate_counters (key TEXT NOT NULL, window_start INTEGER NOT NULL,"
    " count INTEGER NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (key, window_start)) WITHOUT ROWID"
)
_SQLITE_ADD: Final = (
    "INSERT INTO rate_counters (key, window_start, count, expires_at) VALUES (?, ?, 1, ?)"
    " ON CONFLICT (key, window_start) DO UPDATE SET count = count + 1 RETURNING count"
)


class SqliteRateCounters:
    """The counters of a SQLite deployment, in the used nonces' file (`<main database file>-nonces`)."""

    def __init__(self, path: str, *, busy_timeout: float) -> None:
        self._connection = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=busy_timeout
        )
        self._connection.execute(f"PRAGMA busy_timeout = {round(busy_timeout * 1000)}")
        if path != ":memory:":
            self._connection.execute("PRAGMA journal_mode = WAL")
        self._connection.execute("PRAGMA synchronous = OFF")
        self._connection.execute(_SQLITE_TABLE)
        self._next_purge = 0.0

    async def add(self, key: str, *, window_start: int, expires_at: int) -> int:
        row = self._connection.execute(_SQLITE_ADD, (key, window_start, expires_at)).fetchone()
        self._purge_now_and_then()
        return int(row[0])

    async def peek(self, keys: Sequence[str], *, window_start: int) -> int:
        if not keys:
            return 0
        marks = ", ".join("?" * len(keys))
        row = self._connection.execute(
            f"SELECT max(count) FROM rate_counters WHERE window_start = ? AND key IN ({marks})",
            (window_start, *keys),
        ).fetchone()
        return int(row[0] or 0)

    def _purge_now_and_then(self) -> None:
        clock = time.monotonic()
        if clock >= self._next_purge:
            self._next_purge = clock + PURGE_EVERY
            self._connection.execute("DELETE FROM rate_counters WHERE expires_at <= ?", (int(time.time()),))

    async def close(self) -> None:
        self._connection.close()


_PG_ADD: Final = """
WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true))
INSERT INTO acme_rate_counters (key, window_start, count, expires_at)
SELECT $1, $2, 1, $3 FROM relaxed
ON CONFLICT (key, window_start) DO UPDATE SET count = acme_rate_counters.count + 1
RETURNING count
"""
_PG_PURGE: Final = "DELETE FROM acme_rate_counters WHERE expires_at <= $1"


class PostgresRateCounters:
    """The counters of a PostgreSQL deployment: the UNLOGGED acme_rate_counters table (migration 0009)."""

    def __init__(self, pool: DriverPool) -> None:
        self._raw = pool.fetch  # one autocommit statement on asyncpg's own pool
        self._next_purge = 0.0

    async def add(self, key: str, *, window_start: int, expires_at: int) -> int:
        rows = await self._raw(_PG_ADD, key, window_start, expires_at)
        clock = time.monotonic()
        if clock >= self._next_purge:
            self._next_purge = clock + PURGE_EVERY
            await self._raw(_PG_PURGE, int(time.time()))
        return int(rows[0]["count"])

    async def peek(self, keys: Sequence[str], *, window_start: int) -> int:
        if not keys:
            return 0
        rows = await self._raw(
            "SELECT max(count) AS count FROM acme_rate_counters WHERE window_start = $1 AND key = ANY($2)",
            window_start,
            list(keys),
        )
        return int(rows[0]["count"] or 0)

    async def close(self) -> None:
        """The pool belongs to Storage, which closes it."""
