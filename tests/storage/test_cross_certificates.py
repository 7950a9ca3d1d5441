"""Cross-signed CA certificates on both engines."""

from __future__ import annotations

import pytest

from acme_server.errors import Conflict
from acme_server.storage import Storage


async def _ca(storage: Storage, name: str) -> str:
    async with storage.transaction() as tx:
        record = await tx.cas.create(
            name=name, kind="root", status="active", sealed_key=b"k", key_algorithm="EC_prime256v1"
        )
    return record.id


async def test_cross_certificates_are_listed_in_creation_order_and_unique_per_issuer(
    storage: Storage,
) -> None:
    ca, first, second = await _ca(storage, "ca"), await _ca(storage, "x1"), await _ca(storage, "x2")
    async with storage.transaction() as tx:
        a = await tx.cross_certificates.create(ca_id=ca, issuer_id=first, certificate_pem="A")
        b = await tx.cross_certificates.create(ca_id=ca, issuer_id=second, certificate_pem="B")
    async with storage.read() as tx:
        assert [r.id for r in await tx.cross_certificates.list_for_ca(ca)] == [a.id, b.id]
        assert await tx.cross_certificates.list_for_ca(first) == []
    with pytest.raises(Conflict):
        async with storage.transaction() as tx:
            await tx.cross_certificates.create(ca_id=ca, issuer_id=first, certificate_pem="again")
