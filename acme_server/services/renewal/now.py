"""Renew now: a successor with the same subject, SANs, profile, lifetime and metadata, linked both ways
to the certificate it renews, which becomes superseded. The REST API's "renew" and the renewal
scheduler (services/renewal/scheduler.py) both call renew_certificate, an adapter over the issuance pipeline
(services/issuance.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from acme_server.errors import AlreadyRenewed, NotRenewable
from acme_server.services import issuance
from acme_server.services.config import catalog
from acme_server.services.inventory import certificates
from acme_server.services.inventory.certificates import CertificateInfo
from acme_server.services.platform import audit
from acme_server.services.renewal import ari
from acme_server.services.runtime import Runtime
from acme_server.statuses import CertificateStatus
from acme_server.storage import CertificateRecord, Tx
from ca_core.errors import InvalidSetting
from ca_core.export import load_certificates_pem
from ca_core.inspect import inspect_certificate
from ca_core.keys import KeyAlgorithm, PrivateKey, PublicKey, checked_public_key, generate_key
from ca_core.request import CertificateRequest

log = logging.getLogger("acme_server.renewals")


def check_renewable(record: CertificateRecord) -> str:
    """Raise why `record` cannot be renewed by the server; return its profile id."""
    if record.enrollment == "acme":
        raise NotRenewable(f"certificate {record.serial} was issued over ACME; its ACME client renews it")
    if record.renewed_by_id is not None:
        raise AlreadyRenewed(f"certificate {record.serial} was already renewed by {record.renewed_by_id}")
    if record.status == CertificateStatus.REVOKED:
        raise NotRenewable(f"certificate {record.serial} is revoked; issue a new certificate instead")
    if record.profile_id is None:
        raise NotRenewable(f"certificate {record.serial} has no profile any more (it was deleted)")
    return record.profile_id


def _new_key(record: CertificateRecord) -> PrivateKey:
    try:
        algorithm = KeyAlgorithm(record.key_algorithm)
    except ValueError:
        raise InvalidSetting(
            "keyAlgorithm", f"{record.key_algorithm} keys are not generated any more"
        ) from None
    return generate_key(algorithm)


async def renew_certificate(
    rt: Runtime,
    certificate_id: str,
    *,
    actor: str,
    audit_action: str | None = None,
    bookkeeping: Callable[[Tx, CertificateInfo], Awaitable[None]] | None = None,
) -> CertificateInfo:
    """Issue the successor of `certificate_id`. A server-held key is replaced by a fresh key of the
    same algorithm; a certificate from a CSR keeps its public key (the key's owner holds the private
    half). Two renewals racing for one certificate store one successor; the other gets AlreadyRenewed.
    Stored in one transaction with `audit_action`'s audit row (an operator's renew now) or the
    caller's `bookkeeping` (the scheduler's attempt, services/renewal/scheduler.py)."""
    async with rt.storage.read() as tx:  # the certificate and the catalog in one read
        old = await certificates.find_record(tx, certificate_id)
        metadata = await tx.certificates.get_metadata(old.id)
        configuration = await catalog.catalog_in(rt, tx)
    # The successor is the renewal the marker asked for: it must not carry the request on.
    metadata.pop(ari.RENEWAL_REQUESTED, None)
    issuer = issuance.api_issuer(configuration, check_renewable(old))
    certificate = load_certificates_pem(old.certificate_pem.encode())[0]
    details = inspect_certificate(certificate)
    private_key: PrivateKey | None = None
    public_key: PublicKey
    if old.sealed_key is not None:
        private_key = await asyncio.to_thread(_new_key, old)
        public_key = private_key.public_key()
    else:
        public_key = checked_public_key(certificate.public_key())
    request = CertificateRequest(details.subject, details.sans, public_key)
    lifetime = min(old.not_after - old.not_before, issuer.profile.max_ttl)
    checked = issuance.check(issuer, request, lifetime, managed=private_key is not None)
    issued = await issuance.sign(rt, issuer, checked, ttl=lifetime, private_key=private_key)
    async with rt.storage.transaction() as tx:
        successor, pushes = await certificates.record_issued(
            rt,
            tx,
            issued,
            profile_id=issuer.id,
            profile=issuer.profile,
            enrollment=old.enrollment,
            metadata=metadata,
            friendly_name=old.friendly_name,
            renewed_from=old,
        )
        if audit_action is not None:
            detail = {"serial": old.serial, "how": "reissued", "successor": successor.id}
            await audit.record(tx, audit.current(), audit_action, "certificate", old.id, detail)
        if bookkeeping is not None:
            await bookkeeping(tx, successor)
    await issuance.publish(rt, pushes)
    log.info("certificate %s renewed by %s as %s (%s)", old.id, actor, successor.id, successor.serial)
    return successor


async def renew_now(rt: Runtime, certificate_id: str, *, actor: str) -> CertificateInfo:
    """The operator's "renew now", for any certificate: the server issues the successor where it can
    (renew_certificate, which returns it); for an ACME-issued certificate, whose key only its client
    holds, the renewalInfo window moves into the past instead (RFC 9773), so certbot or cert-manager
    replaces it at its next check — the certificate itself is returned, marked."""
    async with rt.storage.read() as tx:
        record = await certificates.find_record(tx, certificate_id)
    if record.enrollment == "acme":
        return await ari.mark_for_renewal(rt, record.id)
    return await renew_certificate(rt, record.id, actor=actor, audit_action="certificate.renew_now")
