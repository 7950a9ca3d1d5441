"""asyncpg's own pool, for the PostgreSQL statements that need nothing of SQLAlchemy: the used nonces
(storage/nonce_store.py) and the rate counters (storage/rate_counters.py), each one autocommit
statement of plain SQL on its own UNLOGGED table, run on every ACME POST.

Through SQLAlchemy's async engine each of them paid a pool checkout, a raw-connection lookup and a
check-in, each a greenlet hop (bench/storage_path.py: a redeem cost about 220 us of CPU); asyncpg's
pool hands out a connection without any. The pool opens on first use and holds at most `max_size`
connections per process beside the engine's."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from sqlalchemy.engine import URL

_SQLALCHEMY_ONLY = ("prepared_statement_cache_size",)  # URL query keys asyncpg does not know


def asyncpg_dsn(url: URL) -> str:
    """The asyncpg DSN of a postgresql+asyncpg URL (password kept: it is the driver's own input)."""
    plain = url.set(drivername="postgresql").difference_update_query(_SQLALCHEMY_ONLY)
    return plain.render_as_string(hide_password=False)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """No reset on release: asyncpg's default sends a reset query (advisory unlocks, CLOSE ALL, RESET
    ALL) every time, a second round trip per statement. These statements leave no session state:
    each is autocommit and sets synchronous_commit for its own transaction only (set_config's
    is_local)."""


class DriverPool:
    """A lazily opened asyncpg pool; `fetch` runs one autocommit statement on it."""

    def __init__(self, url: URL, *, max_size: int = 4) -> None:
        self._dsn = asyncpg_dsn(url)
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def _opened(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn, min_size=1, max_size=self._max_size, reset=_keep_session
                )
            return self._pool

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        pool = self._pool or await self._opened()
        rows: list[Any] = await pool.fetch(query, *args)
        return rows

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
