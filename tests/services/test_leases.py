"""services.leases.hold: two holders on two connection pools of one database (two processes, as far as
the database can tell) never hold a lease at once; a waiter gets it when it is released; a dead holder's
lease is taken over when it runs out. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from acme_server.services import leases
from acme_server.services.runtime import Runtime
from acme_server.storage import Storage
from ca_core.keyprotect import KeyEncryptionKey
from tests.fakes import FixedClock

TTL = timedelta(minutes=5)
URL = "https://127.0.0.1:14000"


@pytest.fixture
async def other(database_url: str) -> AsyncIterator[Runtime]:
    """A second runtime with its own engine on the same database: another worker or replica."""
    storage = await Storage.open(database_url)
    try:
        yield Runtime(storage=storage, kek=KeyEncryptionKey.generate(), public_url=URL)
    finally:
        await storage.close()


async def test_a_held_lease_is_refused_to_a_second_holder_until_released(rt: Runtime, other: Runtime) -> None:
    async with leases.hold(rt, "job", ttl=TTL) as first:
        assert first is True
        async with leases.hold(other, "job", ttl=TTL) as second:
            assert second is False
        async with leases.hold(other, "another-job", ttl=TTL) as unrelated:
            assert unrelated is True
    async with leases.hold(other, "job", ttl=TTL) as after:
        assert after is True


async def test_a_waiter_holds_the_lease_once_the_holder_releases_it(rt: Runtime, other: Runtime) -> None:
    inside: list[str] = []
    released = asyncio.Event()

    async def holder() -> None:
        async with leases.hold(rt, "job", ttl=TTL) as held:
            assert held
            inside.append("first")
            await released.wait()
            inside.remove("first")

    async def waiter() -> bool:
        async with leases.hold(other, "job", ttl=TTL, wait=30, poll=0.02) as held:
            assert inside == []  # never inside together
            inside.append("second")
            return held

    first = asyncio.create_task(holder())
    while not inside:  # the first holder is in
        await asyncio.sleep(0.01)
    second = asyncio.create_task(waiter())
    async with leases.hold(other, "job", ttl=TTL) as meanwhile:
        assert meanwhile is False  # still held by the first
    released.set()
    assert await asyncio.wait_for(second, 30) is True
    await first
    assert inside == ["second"]


async def test_waiting_gives_up_at_the_deadline(rt: Runtime, other: Runtime) -> None:
    loop = asyncio.get_running_loop()
    async with leases.hold(rt, "job", ttl=TTL):
        started = loop.time()
        async with leases.hold(other, "job", ttl=TTL, wait=0.3, poll=0.05) as held:
            assert held is False
        assert 0.2 <= loop.time() - started < 10


async def test_the_lease_is_released_when_the_block_raises(rt: Runtime, other: Runtime) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with leases.hold(rt, "job", ttl=TTL):
            raise RuntimeError("boom")
    async with leases.hold(other, "job", ttl=TTL) as held:
        assert held is True


async def test_a_dead_holders_lease_is_taken_over_when_it_runs_out(storage: Storage, other: Runtime) -> None:
    clock = FixedClock(datetime(2030, 1, 1, tzinfo=UTC))
    dead = Runtime(storage=storage, kek=KeyEncryptionKey.generate(), public_url=URL, clock=clock)
    other.clock = clock
    async with storage.transaction() as tx:  # acquired, then the process died: never released
        assert await tx.leases.try_acquire("job", "dead", now=clock.now(), ttl=TTL)
    async with leases.hold(other, "job", ttl=TTL) as held:
        assert held is False
    clock.current += TTL
    async with leases.hold(other, "job", ttl=TTL) as held:
        assert held is True
    async with leases.hold(dead, "job", ttl=TTL) as held:  # released on exit: free again
        assert held is True
