"""storage.revocations: revoke once (conditional), and the lean per-CA list a CRL is built from."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from acme_server.storage import RevocationRecord, Storage
from tests.storage.factories import NOW, make_ca, make_certificate


async def test_revoke_marks_the_certificate_and_lists_it_for_its_ca(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca, other = await make_ca(tx, "ca"), await make_ca(tx, "other")
        certificate = await make_certificate(tx, ca_id=ca.id, serial="0badc0de")
        await make_certificate(tx, ca_id=ca.id)  # never revoked
    async with storage.transaction() as tx:
        assert await tx.revocations.revoke(
            certificate.id, reason="KEY_COMPROMISE", revoked_at=NOW, source="api"
        )
    async with storage.read() as tx:
        stored = await tx.certificates.get(certificate.id)
        assert await tx.revocations.list_for_ca(ca.id) == [
            RevocationRecord("0badc0de", NOW, "KEY_COMPROMISE")
        ]
        assert await tx.revocations.list_for_ca(other.id) == []
    assert stored is not None
    assert (stored.status, stored.revoked_at, stored.revocation_reason) == ("revoked", NOW, "KEY_COMPROMISE")


async def test_revoking_twice_returns_false_and_keeps_the_first(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
        certificate = await make_certificate(tx, ca_id=ca.id)
        assert await tx.revocations.revoke(certificate.id, reason="SUPERSEDED", revoked_at=NOW, source="api")
    later = NOW + timedelta(hours=1)
    async with storage.transaction() as tx:
        again = await tx.revocations.revoke(
            certificate.id, reason="KEY_COMPROMISE", revoked_at=later, source="cli"
        )
        assert again is False
        assert await tx.revocations.list_for_ca(ca.id) == [
            RevocationRecord(certificate.serial, NOW, "SUPERSEDED")
        ]
        assert (
            await tx.revocations.revoke("missing", reason="UNSPECIFIED", revoked_at=NOW, source="api")
            is False
        )


async def test_superseded_certificates_can_be_revoked(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
        certificate = await make_certificate(tx, ca_id=ca.id, status="superseded")
        assert await tx.revocations.revoke(
            certificate.id, reason="UNSPECIFIED", revoked_at=NOW, source="acme"
        )


async def test_self_signed_revocations_have_no_ca(storage: Storage) -> None:
    async with storage.transaction() as tx:
        certificate = await make_certificate(tx, ca_id=None)
        assert await tx.revocations.revoke(certificate.id, reason="UNSPECIFIED", revoked_at=NOW, source="api")


async def test_concurrent_revocations_have_one_winner(storage: Storage, database_url: str) -> None:
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
        certificate = await make_certificate(tx, ca_id=ca.id)
    other = await Storage.open(database_url)

    async def revoke(pool: Storage) -> bool:
        async with pool.transaction() as tx:
            return await tx.revocations.revoke(
                certificate.id, reason="KEY_COMPROMISE", revoked_at=NOW, source="api"
            )

    try:
        results = await asyncio.wait_for(asyncio.gather(*(revoke(p) for p in (storage, other) * 3)), 60)
    finally:
        await other.close()
    assert sorted(results) == [False] * 5 + [True]
    async with storage.read() as tx:
        assert len(await tx.revocations.list_for_ca(ca.id)) == 1


async def test_deleting_a_certificate_deletes_its_revocation(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
        certificate = await make_certificate(tx, ca_id=ca.id)
        await tx.revocations.revoke(certificate.id, reason="UNSPECIFIED", revoked_at=NOW, source="api")
        assert await tx.certificates.delete(certificate.id)
        assert await tx.revocations.list_for_ca(ca.id) == []
