"""storage.leases: one holder at a time across workers and replicas; an expired lease is taken over."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from acme_server.storage import Storage
from tests.storage.factories import NOW

TTL = timedelta(minutes=5)


async def _acquire(storage: Storage, holder: str, now: datetime = NOW, name: str = "crl") -> bool:
    async with storage.transaction() as tx:
        return await tx.leases.try_acquire(name, holder, now=now, ttl=TTL)


async def _release(storage: Storage, holder: str, name: str = "crl") -> bool:
    async with storage.transaction() as tx:
        return await tx.leases.release(name, holder)


async def test_a_live_lease_excludes_other_holders(storage: Storage) -> None:
    assert await _acquire(storage, "worker-1") is True
    assert await _acquire(storage, "worker-2") is False
    assert await _acquire(storage, "worker-2", NOW + TTL - timedelta(microseconds=1)) is False
    assert await _acquire(storage, "worker-2", name="renewals") is True  # another job's lease


async def test_the_holder_extends_its_lease(storage: Storage) -> None:
    assert await _acquire(storage, "worker-1") is True
    assert await _acquire(storage, "worker-1", NOW + timedelta(minutes=4)) is True  # now until 09 past
    assert await _acquire(storage, "worker-2", NOW + timedelta(minutes=6)) is False


async def test_an_expired_lease_is_taken_over(storage: Storage) -> None:
    assert await _acquire(storage, "dead-worker") is True
    assert await _acquire(storage, "worker-2", NOW + TTL) is True
    assert await _acquire(storage, "dead-worker", NOW + TTL) is False
    assert await _release(storage, "dead-worker") is False  # no longer its lease


async def test_release_frees_the_lease_for_others(storage: Storage) -> None:
    assert await _acquire(storage, "worker-1") is True
    assert await _release(storage, "worker-2") is False
    assert await _release(storage, "worker-1") is True
    assert await _release(storage, "worker-1") is False
    assert await _acquire(storage, "worker-2") is True


async def test_concurrent_acquirers_get_one_lease(storage: Storage, database_url: str) -> None:
    other = await Storage.open(database_url)
    pools = (storage, other)
    try:
        results = await asyncio.wait_for(
            asyncio.gather(*(_acquire(pools[i % 2], f"worker-{i}") for i in range(10))), 60
        )
    finally:
        await other.close()
    assert sorted(results) == [False] * 9 + [True]


async def test_concurrent_takeover_of_an_expired_lease_has_one_winner(
    storage: Storage, database_url: str
) -> None:
    assert await _acquire(storage, "dead-worker") is True
    other = await Storage.open(database_url)
    pools = (storage, other)
    later = NOW + TTL + timedelta(seconds=1)
    try:
        results = await asyncio.wait_for(
            asyncio.gather(*(_acquire(pools[i % 2], f"worker-{i}", later) for i in range(10))), 60
        )
    finally:
        await other.close()
    assert sorted(results) == [False] * 9 + [True]
