"""Database URLs, SQLite connection setup (WAL, busy timeout, foreign keys, BEGIN IMMEDIATE) and the
transaction/read blocks of Storage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from acme_server.errors import ConfigError
from acme_server.statuses import CAStatus
from acme_server.storage import Redeemed, Storage
from acme_server.storage.engine import create_engine, normalize_url
from acme_server.storage.kept_connections import _closed
from tests.conftest import _admin
from tests.storage.acme_factories import counting
from tests.storage.factories import make_ca


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///data/acme.db", "sqlite+aiosqlite:///data/acme.db"),
        ("sqlite:////var/lib/acme/acme.db", "sqlite+aiosqlite:////var/lib/acme/acme.db"),
        ("/var/lib/acme/acme.db", "sqlite+aiosqlite:////var/lib/acme/acme.db"),
        ("data/acme.db", "sqlite+aiosqlite:///data/acme.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://acme@db/acme", "postgresql+asyncpg://acme@db/acme"),
        ("postgres://acme:pw@db:5433/acme", "postgresql+asyncpg://acme:pw@db:5433/acme"),
        ("postgresql+asyncpg://acme@db/acme", "postgresql+asyncpg://acme@db/acme"),
    ],
)
def test_database_urls_are_normalised_to_async_drivers(given: str, expected: str) -> None:
    assert normalize_url(given) == expected


@pytest.mark.parametrize(
    "given", ["mysql://root@db/acme", "postgresql+psycopg://x@db/acme", "", "  ", "sqlite://", ":memory:"]
)
def test_other_database_urls_are_a_one_line_config_error(given: str) -> None:
    with pytest.raises(ConfigError) as caught:
        normalize_url(given)
    assert "\n" not in caught.value.detail


def test_config_error_does_not_echo_a_password() -> None:
    with pytest.raises(ConfigError) as caught:
        normalize_url("mysql://root:s3cret@db/acme")
    assert "s3cret" not in caught.value.detail
    assert "'mysql'" in caught.value.detail


async def test_sqlite_database_in_a_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        await Storage.open(str(tmp_path / "missing" / "acme.db"))


async def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    engine = create_engine(str(tmp_path / "acme.db"))
    try:
        async with engine.connect() as connection:
            pragmas = {
                name: (await connection.execute(text(f"PRAGMA {name}"))).scalar_one()
                for name in ("journal_mode", "busy_timeout", "foreign_keys")
            }
    finally:
        await engine.dispose()
    assert pragmas == {"journal_mode": "wal", "busy_timeout": 30000, "foreign_keys": 1}


@pytest.mark.parametrize("database_engine", ["sqlite"])
async def test_sqlite_writers_in_two_processes_wait_instead_of_failing(database_url: str) -> None:
    """Read-then-write transactions from separate pools (as from two processes): with a deferred BEGIN
    the second writer's lock upgrade fails at once with "database is locked"; BEGIN IMMEDIATE queues it."""
    first, second = await Storage.open(database_url), await Storage.open(database_url)
    try:
        async with first.transaction() as tx:
            ca = await make_ca(tx)

        async def overlap(holder: Storage, contender: Storage) -> None:
            """The holder reads, then writes only once the contender has begun its own transaction:
            the two read-then-write transactions overlap however the loop schedules them."""
            holding = asyncio.Event()
            with counting(contender) as contender_statements:

                async def hold() -> None:
                    async with holder.transaction() as tx:
                        assert await tx.cas.get(ca.id) is not None
                        holding.set()
                        await _until(
                            lambda: any(s.startswith("BEGIN") for s in contender_statements.statements)
                        )
                        assert await tx.cas.set_status(ca.id, CAStatus.DISABLED)

                async def contend() -> None:
                    await holding.wait()
                    async with contender.transaction() as tx:
                        assert await tx.cas.get(ca.id) is not None
                        assert await tx.cas.set_status(ca.id, CAStatus.ACTIVE)

                await asyncio.gather(hold(), contend())

        await overlap(first, second)
        await overlap(second, first)
        async with first.read() as tx:
            found = await tx.cas.get(ca.id)
        assert found is not None and found.status is CAStatus.ACTIVE  # the contender wrote last, twice
    finally:
        await first.close()
        await second.close()


async def _until(condition: Callable[[], bool], *, deadline: float = 10.0) -> None:
    """Poll `condition` on the loop until it holds; fail after `deadline` seconds."""
    give_up = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < give_up, "the condition did not hold in time"
        await asyncio.sleep(0.001)


async def test_transaction_commits_at_the_end_of_the_block(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
    async with storage.read() as tx:
        assert await tx.cas.get(ca.id) == ca


async def test_transaction_rolls_back_when_the_block_raises(storage: Storage) -> None:
    with pytest.raises(RuntimeError):
        async with storage.transaction() as tx:
            await make_ca(tx, "doomed")
            raise RuntimeError("boom")
    async with storage.read() as tx:
        assert await tx.cas.get_by_name("doomed") is None


async def test_read_block_refuses_writes(storage: Storage) -> None:
    with pytest.raises(DBAPIError):
        async with storage.read() as tx:
            await make_ca(tx, "written-in-a-read")
    async with storage.read() as tx:
        assert await tx.cas.list() == []
    async with storage.transaction() as tx:  # the pooled connection is writable again
        await make_ca(tx, "written-in-a-transaction")


async def test_storage_reports_its_dialect(storage: Storage, database_engine: str) -> None:
    assert storage.dialect == database_engine


@pytest.mark.parametrize("database_engine", ["postgresql"])
async def test_pooled_connections_killed_by_a_database_restart_cost_no_failed_request(
    storage: Storage, database_url: str
) -> None:
    """No pre-ping per checkout (it costs round trips): a pooled connection the server closed is seen
    closed at checkout, without I/O, and replaced."""
    for _ in range(2):  # both pools hold a connection now
        async with storage.read() as tx:
            await tx.config.current()
        async with storage.transaction() as tx:
            await tx.config.current()
    name = urlsplit(database_url).path.lstrip("/")
    await _admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )
    # The loop has seen the sockets close: every idle kept connection says so without I/O.
    kept = [*storage._kept_writers._idle, *storage._kept_readers._idle]
    assert kept
    await _until(lambda: all(_closed(connection) for connection in kept))
    async with storage.read() as tx:
        assert await tx.config.current() >= 0
    async with storage.transaction() as tx:
        assert await tx.config.current() >= 0
    async with storage.read_one() as tx:  # a kept autocommit connection (storage/kept_connections.py)
        assert await tx.config.current() >= 0
    now = datetime.now(UTC)  # asyncpg's own pool (storage/driver_pool.py)
    assert await storage.nonces.redeem("n", issued_at=now, expires_at=now + timedelta(hours=1)) in {
        Redeemed.FIRST_USE,
        Redeemed.ISSUED_BEFORE_RESET,
    }


@pytest.mark.parametrize("database_engine", ["postgresql"])
async def test_a_failed_transaction_leaves_no_open_transaction_on_a_kept_connection(storage: Storage) -> None:
    """A block that raises is rolled back; the connection it used serves the next transaction clean."""
    with pytest.raises(RuntimeError):
        async with storage.transaction() as tx:
            await make_ca(tx, "rolled-back")
            raise RuntimeError("the block failed")
    for _ in range(3):
        async with storage.transaction() as tx:
            assert [ca.name for ca in await tx.cas.list()] == []
    async with storage.transaction() as tx:
        await make_ca(tx, "kept")
    async with storage.read() as tx:
        assert [ca.name for ca in await tx.cas.list()] == ["kept"]


async def test_a_write_inside_a_read_block_fails(storage: Storage) -> None:
    with pytest.raises(DBAPIError, match=r"readonly|read-only"):
        async with storage.read() as tx:
            await tx.leases.try_acquire("x", "me", now=datetime.now(UTC), ttl=timedelta(seconds=5))
