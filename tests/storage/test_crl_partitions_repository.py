"""Storage of CRL partitions on SQLite and PostgreSQL: a certificate's partition is copied onto its
revocation, each partition streams and counts its own entries and has its own newest CRL, and the
partitions a CA publishes never shrink."""

from __future__ import annotations

from datetime import timedelta

from acme_server.storage import Storage
from tests.storage.factories import NOW, make_ca, make_certificate

WEEK = NOW + timedelta(days=7)


async def test_revocations_keep_the_partition_of_their_certificate(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
        made = [await make_certificate(tx, ca_id=ca.id, crl_partition=p) for p in (0, 2, 2, 3)]
    async with storage.transaction() as tx:
        for certificate in made[:3]:
            await tx.revocations.revoke(certificate.id, reason="UNSPECIFIED", revoked_at=NOW, source="api")
    async with storage.read() as tx:
        assert await tx.revocations.count_by_partition(ca.id) == {0: 1, 2: 2}
        streamed = [row async for batch in tx.revocations.stream_for_ca(ca.id, partition=2) for row in batch]
        assert sorted(serial for serial, _, _ in streamed) == sorted(c.serial for c in made[1:3])
        assert [b async for b in tx.revocations.stream_for_ca(ca.id, partition=3)] == []
        newest = await tx.revocations.newest_by_partition()
    assert newest == {(ca.id, 0): NOW, (ca.id, 2): NOW}


async def test_each_partition_has_its_own_newest_crl(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
        for number, partition in ((1, 0), (2, 1), (3, 0), (4, 1), (5, 1)):
            when = NOW + timedelta(hours=number)
            await tx.crls.store(
                ca.id, number=number, this_update=when, next_update=WEEK, der=b"d", partition=partition
            )
    async with storage.read() as tx:
        assert await tx.crls.latest_number(ca.id, 0) == (3, WEEK, NOW + timedelta(hours=3))
        assert await tx.crls.latest_number(ca.id, 1) == (5, WEEK, NOW + timedelta(hours=5))
        assert await tx.crls.latest_number(ca.id, 2) is None
        latest = await tx.crls.latest(ca.id, 1)
        assert latest is not None and (latest.number, latest.partition) == (5, 1)
        numbers = await tx.crls.latest_numbers()
    assert {key: value[0] for key, value in numbers.items()} == {(ca.id, 0): 3, (ca.id, 1): 5}


async def test_fewer_partitions_keep_the_published_count(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca = await make_ca(tx, status_url="http://pki.example.internal", crl_partitions=4)
        assert (ca.crl_partitions, ca.crl_partitions_published) == (4, 4)
        assert await tx.cas.update_settings(ca.id, crl_partitions=2)
        lowered = await tx.cas.get(ca.id)
        assert await tx.cas.update_settings(ca.id, crl_partitions=6, status_url="http://other.example")
        raised = await tx.cas.get(ca.id)
        assert not await tx.cas.update_settings("no-such-ca", crl_partitions=2)
    assert lowered is not None and (lowered.crl_partitions, lowered.crl_partitions_published) == (2, 4)
    assert raised is not None and (raised.crl_partitions, raised.crl_partitions_published) == (6, 6)
    assert raised.status_url == "http://other.example"
