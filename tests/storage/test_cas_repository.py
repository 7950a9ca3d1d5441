"""storage.cas: CA records, status changes, completing an external CA, and the CRL number counter."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from acme_server.errors import NotFound
from acme_server.storage import CARecord, Storage
from tests.storage.factories import NOW, make_ca


async def test_create_returns_the_stored_record(storage: Storage) -> None:
    async with storage.transaction() as tx:
        root = await make_ca(tx, "root", crl_url="http://crl.example/root.crl", max_path_length=1)
        child = await make_ca(
            tx, "intermediate", kind="intermediate", parent_id=root.id, chain_pem=root.certificate_pem or ""
        )
    assert isinstance(root, CARecord)
    assert root.crl_number == 0
    assert root.chain_pem == ""
    assert root.max_path_length == 1
    assert root.sealed_key == b"sealed:root"
    assert child.parent_id == root.id
    async with storage.read() as tx:
        assert await tx.cas.get(root.id) == root
        assert await tx.cas.get_by_name("intermediate") == child


async def test_unknown_ids_and_names_are_none(storage: Storage) -> None:
    async with storage.read() as tx:
        assert await tx.cas.get("00000000-0000-0000-0000-000000000000") is None
        assert await tx.cas.get("not-a-uuid-but-a-name") is None
        assert await tx.cas.get_by_name("nobody") is None


async def test_list_is_in_creation_order(storage: Storage) -> None:
    async with storage.transaction() as tx:
        created = [await make_ca(tx, name) for name in ("c", "a", "b")]
    async with storage.read() as tx:
        assert [ca.id for ca in await tx.cas.list()] == [ca.id for ca in created]


async def test_set_status(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
        assert await tx.cas.set_status(ca.id, "disabled") is True
        assert await tx.cas.set_status("missing", "disabled") is False
    async with storage.read() as tx:
        stored = await tx.cas.get(ca.id)
    assert stored is not None and stored.status == "disabled"


async def test_complete_external_only_while_pending(storage: Storage) -> None:
    async with storage.transaction() as tx:
        external = await make_ca(
            tx,
            "offline-signed",
            kind="external",
            status="pending",
            certificate_pem=None,
            csr_pem="-----BEGIN CERTIFICATE REQUEST-----\n",
            not_before=None,
            not_after=None,
        )
        active = await make_ca(tx, "already-active")
    assert external.certificate_pem is None and external.not_after is None
    completion: dict[str, Any] = {
        "certificate_pem": "CERT",
        "chain_pem": "ROOT",
        "not_before": NOW,
        "not_after": NOW + timedelta(days=1000),
    }
    async with storage.transaction() as tx:
        assert await tx.cas.complete_external(external.id, **completion) is True
        assert await tx.cas.complete_external(external.id, **completion) is False
        assert await tx.cas.complete_external(active.id, **completion) is False
        completed = await tx.cas.get(external.id)
    assert completed is not None
    assert (completed.status, completed.certificate_pem, completed.chain_pem) == ("active", "CERT", "ROOT")
    assert (completed.not_before, completed.not_after) == (NOW, NOW + timedelta(days=1000))
    assert completed.csr_pem == external.csr_pem


async def test_crl_numbers_count_up_from_one(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
    for expected in (1, 2, 3):
        async with storage.transaction() as tx:
            assert await tx.cas.next_crl_number(ca.id) == expected
    async with storage.read() as tx:
        stored = await tx.cas.get(ca.id)
    assert stored is not None and stored.crl_number == 3


async def test_crl_number_of_an_unknown_ca_is_not_found(storage: Storage) -> None:
    with pytest.raises(NotFound):
        async with storage.transaction() as tx:
            await tx.cas.next_crl_number("missing")


async def test_concurrent_crl_numbers_are_distinct_and_consecutive(
    storage: Storage, database_url: str
) -> None:
    """20 concurrent transactions from four pools (as four processes): no number twice, none skipped."""
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
    others = [await Storage.open(database_url) for _ in range(3)]
    pools = [storage, *others]

    async def take(index: int) -> int:
        async with pools[index % len(pools)].transaction() as tx:
            number = await tx.cas.next_crl_number(ca.id)
            await asyncio.sleep(0)  # hold the transaction across a scheduling point
            return number

    try:
        numbers = await asyncio.wait_for(asyncio.gather(*(take(i) for i in range(20))), 60)
    finally:
        for other in others:
            await other.close()
    assert sorted(numbers) == list(range(1, 21))
