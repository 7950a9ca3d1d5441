"""storage.requests: certificate requests with metadata, filtered listing, and their one-way outcome."""

from __future__ import annotations

from acme_server.storage import CertificateRequestFilter, CertificateRequestRecord, Storage, Tx
from tests.storage.factories import make_ca, make_certificate, make_profile

PARAMETERS = {"subject": {"commonName": "a.example"}, "sans": ["a.example"], "keyAlgorithm": "EC_prime256v1"}


async def test_create_and_get(storage: Storage) -> None:
    async with storage.transaction() as tx:
        profile = await make_profile(tx)
        managed = await tx.requests.create(
            profile_id=profile.id, method="managed", parameters=PARAMETERS, metadata={"ticket": "OPS-1"}
        )
        from_csr = await tx.requests.create(profile_id=profile.id, method="csr", csr_pem="CSR", parameters={})
    assert isinstance(managed, CertificateRequestRecord)
    assert (managed.status, managed.parameters, managed.csr_pem) == ("pending", PARAMETERS, None)
    assert (managed.certificate_id, managed.error) == (None, None)
    assert from_csr.csr_pem == "CSR"
    async with storage.read() as tx:
        assert await tx.requests.get(managed.id) == managed
        assert await tx.requests.get("missing") is None
        assert await tx.requests.get_metadata(managed.id) == {"ticket": "OPS-1"}
        assert await tx.requests.get_metadata(from_csr.id) == {}


async def _ids(tx: Tx, query: CertificateRequestFilter, **paging: int) -> tuple[list[str], int]:
    records, total = await tx.requests.list(query, **paging)
    return [r.id for r in records], total


async def test_list_filters_and_pages(storage: Storage) -> None:
    async with storage.transaction() as tx:
        one, two = await make_profile(tx, "one"), await make_profile(tx, "two")
        a = await tx.requests.create(
            profile_id=one.id, method="csr", parameters={}, metadata={"t": "x", "e": "1"}
        )
        b = await tx.requests.create(profile_id=two.id, method="csr", parameters={}, metadata={"t": "x"})
        c = await tx.requests.create(profile_id=one.id, method="csr", parameters={})
        assert await tx.requests.fail(c.id, "policy said no")
    async with storage.read() as tx:
        assert await _ids(tx, CertificateRequestFilter()) == ([c.id, b.id, a.id], 3)
        assert await _ids(tx, CertificateRequestFilter(status="failed")) == ([c.id], 1)
        assert await _ids(tx, CertificateRequestFilter(profile_id=one.id)) == ([c.id, a.id], 2)
        assert await _ids(tx, CertificateRequestFilter(metadata={"t": "x"})) == ([b.id, a.id], 2)
        assert await _ids(tx, CertificateRequestFilter(metadata={"t": "x", "e": "1"})) == ([a.id], 1)
        both = CertificateRequestFilter(metadata={"t": "x"}, profile_id=two.id, status="pending")
        assert await _ids(tx, both) == ([b.id], 1)
        assert await _ids(tx, CertificateRequestFilter(), limit=2, offset=2) == ([a.id], 3)


async def test_complete_and_fail_only_from_pending(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
        profile = await make_profile(tx, ca_id=ca.id)
        issued = await tx.requests.create(profile_id=profile.id, method="csr", parameters={})
        failed = await tx.requests.create(profile_id=profile.id, method="csr", parameters={})
        certificate = await make_certificate(tx, ca_id=ca.id, profile_id=profile.id, request_id=issued.id)
    async with storage.transaction() as tx:
        assert await tx.requests.complete(issued.id, certificate.id) is True
        assert await tx.requests.complete(issued.id, certificate.id) is False
        assert await tx.requests.fail(issued.id, "too late") is False
        assert await tx.requests.fail(failed.id, "CSR signature invalid") is True
        assert await tx.requests.complete(failed.id, certificate.id) is False
        assert await tx.requests.complete("missing", certificate.id) is False
        done, broken = await tx.requests.get(issued.id), await tx.requests.get(failed.id)
    assert done is not None and (done.status, done.certificate_id, done.error) == (
        "issued",
        certificate.id,
        None,
    )
    assert broken is not None and (broken.status, broken.error) == ("failed", "CSR signature invalid")
    assert certificate.request_id == issued.id
