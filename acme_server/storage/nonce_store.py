"""Used ACME nonces where a write is cheap (RFC 8555 §6.5; docs/acme-divergences.md "Used nonces").

A nonce is a stateless MAC (services/acme/nonces.py); what makes it single-use is one row per used nonce,
shared by every worker and replica. That row is the only write a POST-as-GET makes, so it must not
cost an fsync or queue behind the writer of certificates and orders:

- SQLite: a database file of its own next to the main one (`<name>-nonces`), WAL with
  `synchronous = OFF`. A redeem is one `INSERT OR IGNORE` run on the event loop's thread (no thread
  hand-off, no fsync: microseconds), never behind the main database's write lock. A process crash
  loses nothing (the OS has the pages); a power loss may forget the last used nonces, which a
  client could then replay only with a signed request captured from inside TLS before the loss.
- PostgreSQL: the `acme_nonces` table is UNLOGGED and each redeem is one autocommit statement that
  sets `synchronous_commit = off` for itself. A crash of PostgreSQL empties an UNLOGGED table, so a
  guard row (nonce '') records since when the table holds every used nonce: a crash removes it,
  the next redeem puts it back with the current time, and every nonce issued before that time is
  refused (badNonce, the client retries with a fresh one). Nothing can be replayed after a crash.

Rows are purged once their nonce would have expired anyway."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Final, Protocol

from acme_server.storage.driver_pool import DriverPool

PURGE_EVERY: Final = 60.0  # seconds between purges of expired rows, per process


class Redeemed(Enum):
    FIRST_USE = "first use"
    REPLAY = "used before"
    ISSUED_BEFORE_RESET = "issued before the store of used nonces was reset"


class NonceStore(Protocol):
    async def redeem(self, nonce: str, *, issued_at: datetime, expires_at: datetime) -> Redeemed: ...

    async def close(self) -> None: ...


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class SqliteNonceStore:
    """The used nonces of a SQLite deployment, in `<main database file>-nonces`."""

    def __init__(self, path: str, *, busy_timeout: float) -> None:
        self.path = path
        self._connection = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=busy_timeout
        )
        self._connection.execute(f"PRAGMA busy_timeout = {round(busy_timeout * 1000)}")
        if path != ":memory:":
            self._connection.execute("PRAGMA journal_mode = WAL")
        self._connection.execute("PRAGMA synchronous = OFF")
        self._connection.execute(
            "CREATE TABLE IF NOT EXISTS used_nonces"
            " (nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) WITHOUT ROWID"
        )
        self._next_purge = 0.0

    @classmethod
    def beside(cls, database: str, *, busy_timeout: float) -> SqliteNonceStore:
        """The store for the main database file `database` (in memory for an in-memory database)."""
        if database in ("", ":memory:") or database.startswith("file:"):
            return cls(":memory:", busy_timeout=busy_timeout)
        return cls(str(Path(database)) + "-nonces", busy_timeout=busy_timeout)

    async def redeem(self, nonce: str, *, issued_at: datetime, expires_at: datetime) -> Redeemed:
        inserted = self._connection.execute(
            "INSERT OR IGNORE INTO used_nonces (nonce, expires_at) VALUES (?, ?)", (nonce, _ms(expires_at))
        ).rowcount
        self._purge_now_and_then()
        return Redeemed.FIRST_USE if inserted == 1 else Redeemed.REPLAY

    def _purge_now_and_then(self) -> None:
        clock = time.monotonic()
        if clock >= self._next_purge:
            self._next_purge = clock + PURGE_EVERY
            self._connection.execute(
                "DELETE FROM used_nonces WHERE expires_at <= ?", (_ms(datetime.now(UTC)),)
            )

    async def close(self) -> None:
        self._connection.close()


# One statement, one round trip, autocommit: this statement's transaction commits without waiting
# for WAL to reach disk, the row goes to an UNLOGGED table, and nothing is inserted unless the guard
# row says the table held every used nonce since before this nonce was issued.
_PG_REDEEM: Final = """
WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true)),
     guard AS (SELECT expires_at AS since FROM acme_nonces WHERE nonce = '')
INSERT INTO acme_nonces (nonce, expires_at)
SELECT $1, $2 FROM relaxed, guard WHERE guard.since <= $3
ON CONFLICT (nonce) DO NOTHING
RETURNING nonce
"""
_PG_GUARD_STATE: Final = "SELECT expires_at FROM acme_nonces WHERE nonce = ''"
_PG_PUT_GUARD: Final = (
    "INSERT INTO acme_nonces (nonce, expires_at) VALUES ('', $1) ON CONFLICT (nonce) DO NOTHING"
)
_PG_PURGE: Final = "DELETE FROM acme_nonces WHERE expires_at <= $1 AND nonce <> ''"


class PostgresNonceStore:
    """The used nonces of a PostgreSQL deployment: the UNLOGGED acme_nonces table (migration 0007)."""

    def __init__(self, pool: DriverPool) -> None:
        self._raw = pool.fetch  # one autocommit statement on asyncpg's own pool
        self._next_purge = 0.0

    async def redeem(self, nonce: str, *, issued_at: datetime, expires_at: datetime) -> Redeemed:
        rows = await self._raw(_PG_REDEEM, nonce, expires_at, issued_at)
        await self._purge_now_and_then()
        if rows:
            return Redeemed.FIRST_USE
        guard = await self._raw(_PG_GUARD_STATE)
        if not guard:  # PostgreSQL crashed and emptied the table: from now on it holds every nonce
            await self._raw(_PG_PUT_GUARD, datetime.now(UTC))
            return Redeemed.ISSUED_BEFORE_RESET
        if guard[0]["expires_at"] > issued_at:
            return Redeemed.ISSUED_BEFORE_RESET
        return Redeemed.REPLAY

    async def _purge_now_and_then(self) -> None:
        clock = time.monotonic()
        if clock >= self._next_purge:
            self._next_purge = clock + PURGE_EVERY
            await self._raw(_PG_PURGE, datetime.now(UTC))

    async def close(self) -> None:
        """The pool belongs to Storage, which closes it."""
