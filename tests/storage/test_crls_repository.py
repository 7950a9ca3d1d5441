"""storage.crls: signed CRLs stored by number per CA."""

from __future__ import annotations

from datetime import timedelta

import pytest

from acme_server.errors import Conflict
from acme_server.storage import CRLRecord, Storage
from tests.storage.factories import NOW, make_ca


async def test_store_latest_and_list(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca, other = await make_ca(tx, "ca"), await make_ca(tx, "other")
        stored = [
            await tx.crls.store(
                ca.id,
                number=number,
                this_update=NOW + timedelta(hours=number),
                next_update=NOW + timedelta(days=7, hours=number),
                der=bytes([0x30, number, 0x00]),
            )
            for number in (2, 3, 1)  # overlapping generations may finish out of order
        ]
    assert isinstance(stored[0], CRLRecord)
    assert (stored[0].number, stored[0].der, stored[0].this_update) == (
        2,
        b"\x30\x02\x00",
        NOW + timedelta(hours=2),
    )
    async with storage.read() as tx:
        assert await tx.crls.latest(ca.id) == stored[1]
        assert await tx.crls.latest(other.id) is None
        assert [crl.number for crl in await tx.crls.list_for_ca(ca.id)] == [3, 2, 1]
        assert await tx.crls.list_for_ca(other.id) == []


async def test_a_number_is_stored_once_per_ca(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca, other = await make_ca(tx, "ca"), await make_ca(tx, "other")
        week = NOW + timedelta(days=7)
        await tx.crls.store(ca.id, number=1, this_update=NOW, next_update=week, der=b"a")
        await tx.crls.store(other.id, number=1, this_update=NOW, next_update=week, der=b"b")
    with pytest.raises(Conflict, match="CRL number 1 already exists for this CA"):
        async with storage.transaction() as tx:
            await tx.crls.store(ca.id, number=1, this_update=NOW, next_update=week, der=b"c")
