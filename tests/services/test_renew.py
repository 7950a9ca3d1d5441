"""Renew now (services/renewal/now.py): the successor's subject, SANs, profile, metadata and links, the old
certificate superseded, one successor when two renewals race; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from acme_server.errors import AlreadyRenewed, Conflict
from acme_server.services import issuance
from acme_server.services.inventory import certificates, edits, export
from acme_server.services.issuance import ManagedRequest
from acme_server.services.renewal.now import renew_certificate
from acme_server.services.runtime import Runtime
from acme_server.storage import CertificateFilter
from ca_core.keys import KeyAlgorithm
from ca_core.request import Subject, SubjectAltNames
from ca_core.revocation import RevocationReason


def managed(*dns: str, algorithm: KeyAlgorithm = KeyAlgorithm.EC_prime256v1) -> ManagedRequest:
    return ManagedRequest(
        Subject(common_name=dns[0], organization="Example"), SubjectAltNames(dns=dns), algorithm
    )


async def test_renew_issues_a_linked_successor_with_a_new_key_and_the_same_names(dev: Runtime) -> None:
    old = await issuance.issue_certificate(
        dev,
        profile="default",
        managed=managed("app.example.internal", "www.example.internal", algorithm=KeyAlgorithm.RSA_2048),
        ttl=timedelta(days=20),
        metadata={"team": "payments", "env": "prod"},
        friendly_name="app",
    )
    new = await renew_certificate(dev, old.id, actor="test")
    assert new.id != old.id and new.serial != old.serial
    assert new.renewed_from_id == old.id and new.status == "active"
    assert new.metadata == {"team": "payments", "env": "prod"}
    assert new.profile_id == old.profile_id and new.friendly_name == "app"
    assert new.details.subject == old.details.subject
    assert new.details.sans == old.details.sans
    assert new.details.key_algorithm == "RSA_2048"
    assert new.not_after - new.not_before == timedelta(days=20)
    old_bundle = await export.export_pem(dev, old.id)
    new_bundle = await export.export_pem(dev, new.id)
    assert new_bundle.private_key is not None and new_bundle.private_key != old_bundle.private_key
    refreshed = await certificates.get_certificate(dev, old.id)
    assert refreshed.status == "superseded" and refreshed.renewed_by_id == new.id


async def test_a_csr_certificate_is_renewed_for_the_same_public_key(dev: Runtime) -> None:
    from tests.services.test_certificates import _csr_pem

    old = await issuance.issue_certificate(dev, profile="default", csr_pem=_csr_pem("csr.example.internal"))
    new = await renew_certificate(dev, old.id, actor="test")
    assert not new.has_private_key
    assert new.details.fingerprint_sha256 != old.details.fingerprint_sha256
    old_key = old.details.subject_key_id
    assert old_key is not None and new.details.subject_key_id == old_key


async def test_renewing_twice_is_already_renewed_and_revoked_is_refused(dev: Runtime) -> None:
    old = await issuance.issue_certificate(dev, profile="default", managed=managed("twice.example.internal"))
    await renew_certificate(dev, old.id, actor="test")
    with pytest.raises(AlreadyRenewed, match="already renewed"):
        await renew_certificate(dev, old.id, actor="test")
    other = await issuance.issue_certificate(dev, profile="default", managed=managed("rev.example.internal"))
    await edits.revoke_certificate(dev, other.id, RevocationReason.KEY_COMPROMISE)
    with pytest.raises(Conflict, match="revoked"):
        await renew_certificate(dev, other.id, actor="test")


async def test_two_concurrent_renewals_store_exactly_one_successor(dev: Runtime) -> None:
    old = await issuance.issue_certificate(dev, profile="default", managed=managed("race.example.internal"))
    results = await asyncio.gather(
        *(renew_certificate(dev, old.id, actor=f"worker-{i}") for i in range(3)), return_exceptions=True
    )
    winners = [r for r in results if isinstance(r, certificates.CertificateInfo)]
    assert len(winners) == 1
    assert all(isinstance(r, AlreadyRenewed) for r in results if r not in winners)
    found, total = await certificates.list_certificates(
        dev, CertificateFilter(search="race.example.internal")
    )
    assert total == 2 and {c.status for c in found} == {"active", "superseded"}
