"""ACME Renewal Information (RFC 9773): the suggested renewal window of a certificate we issued, and
the operator actions that move it into the past (revocation, a CA marked for rotation, renew now) so
that ACME clients renew at their next check. Reads only, except the two marking actions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from acme_server.errors import Conflict, Malformed, NotFound
from acme_server.services.config import cas
from acme_server.services.inventory import certificates
from acme_server.services.platform import audit
from acme_server.services.runtime import Runtime
from acme_server.statuses import CertificateStatus
from acme_server.storage import CertificateRecord, Tx
from ca_core.export import load_certificates_pem
from ca_core.profile import DEFAULT_RENEWAL_WINDOW, Profile
from ca_core.renewal_info import (
    MalformedCertID,
    RenewalWindow,
    cert_id,
    parse_cert_id,
    renew_now_window,
    suggested_window,
)
from ca_core.serials import format_serial

# §4.3: how long a client should wait before asking again. Short, so that a server-side decision
# (revocation, rotation, renew now) reaches clients within the hour.
RETRY_AFTER = 3600
# The certificate metadata key that records an operator's "renew now" (an ISO 8601 UTC time); a CA
# marked for rotation puts it on each of its active ACME certificates.
RENEWAL_REQUESTED = "renewal-requested-at"


@dataclass(frozen=True)
class RenewalInfo:
    certificate_id: str
    window: RenewalWindow
    retry_after: int = RETRY_AFTER
    reason: str = "schedule"  # schedule | revoked | renewal-requested (for logs and tests)


async def _find(tx: Tx, text: str) -> CertificateRecord:
    """The certificate a certID names: the CA whose key identifier is the AKI, then the serial."""
    wanted = parse_cert_id(text)
    for record in await tx.cas.list():
        if record.certificate_pem is None:
            continue
        ca_certificate = load_certificates_pem(record.certificate_pem.encode())[0]
        if _key_identifier(ca_certificate) != wanted.key_identifier:
            continue
        found = await tx.certificates.get_by_serial(record.id, format_serial(wanted.serial))
        if found is not None:
            return found
    raise NotFound("certificate with certID", text)


def _key_identifier(ca_certificate: x509.Certificate) -> bytes:
    try:
        return ca_certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(ca_certificate.public_key()).digest


async def _window_percent(tx: Tx, profile_id: str | None) -> tuple[int, int]:
    record = await tx.profiles.get(profile_id) if profile_id else None
    if record is None:
        return DEFAULT_RENEWAL_WINDOW
    return Profile.from_document(record.name, record.document).renewal_window


async def renewal_info(rt: Runtime, text: str) -> RenewalInfo:
    """§4.2: the window for the certificate the certID `text` names; already past when it must be replaced."""
    async with rt.storage.read() as tx:
        record = await _find(tx, text)
        metadata = await tx.certificates.get_metadata(record.id)
        percent = await _window_percent(tx, record.profile_id)
    if record.status == CertificateStatus.REVOKED and record.revoked_at is not None:
        return RenewalInfo(record.id, renew_now_window(record.revoked_at), reason="revoked")
    requested = _requested_at(metadata.get(RENEWAL_REQUESTED))
    if requested is not None:
        return RenewalInfo(record.id, renew_now_window(requested), reason="renewal-requested")
    return RenewalInfo(record.id, suggested_window(record.not_before, record.not_after, percent))


async def renewal_info_of(rt: Runtime, certificate_id: str) -> tuple[str, RenewalInfo]:
    """(certID, renewal info) of an inventory certificate, as its ACME client would see them."""
    info = await certificates.get_certificate(rt, certificate_id)
    text = cert_id(load_certificates_pem(info.certificate_pem.encode())[0])
    return text, await renewal_info(rt, text)


def _requested_at(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None  # an operator edited the key by hand; the schedule applies
    return moment if moment.tzinfo is not None else None


async def mark_for_renewal(rt: Runtime, certificate_id: str) -> certificates.CertificateInfo:
    """Renew now for an ACME-issued certificate: its renewalInfo window moves into the past, so the
    client replaces it at its next check (the server cannot renew a key it does not hold)."""
    async with rt.storage.transaction() as tx:
        record = await certificates.find_record(tx, certificate_id)
        if record.enrollment != "acme":
            raise Conflict(f"certificate {record.id} was not issued over ACME; renew it on the server")
        if record.status != CertificateStatus.ACTIVE:
            raise Conflict(f"certificate {record.id} is {record.status}; only an active one can be renewed")
        metadata = await tx.certificates.get_metadata(record.id)
        metadata.setdefault(RENEWAL_REQUESTED, rt.clock.now().isoformat())
        await tx.certificates.set_metadata(record.id, metadata)
        # Renew now by any path (API, CLI, UI): the client is asked to renew through renewalInfo.
        detail = {"serial": record.serial, "how": "renewalInfo", "requestedAt": metadata[RENEWAL_REQUESTED]}
        await audit.record(tx, audit.current(), "certificate.renew_now", "certificate", record.id, detail)
    return await certificates.get_certificate(rt, record.id)


async def mark_ca_for_rotation(rt: Runtime, ca_ref: str) -> int:
    """Ask every ACME client holding an active certificate of the CA to renew now (for instance after
    pointing the profiles at a new CA); returns how many certificates were marked."""
    async with rt.storage.transaction() as tx:
        record = await cas.find_record(tx, ca_ref)
        now = rt.clock.now().isoformat()
        return await tx.certificates.put_metadata_for_ca(record.id, RENEWAL_REQUESTED, now, enrollment="acme")


async def check_replaces(rt: Runtime, account_id: str, text: str) -> str:
    """RFC 9773 §5: `replaces` in newOrder must name a certificate we issued to this account; returns
    its id. (A second order for the same certificate is alreadyReplaced, checked with the order.)"""
    try:
        async with rt.storage.read() as tx:
            record = await _find(tx, text)
    except (MalformedCertID, NotFound) as exc:
        raise Malformed(f"replaces: {exc.detail}") from None
    if record.account_id != account_id:
        raise Malformed("replaces: that certificate was not issued to this account")
    return record.id


async def record_replacement(tx: Tx, text: str, new_certificate_id: str) -> None:
    """The renewal chain, in the transaction that stores the new certificate: the one `replaces`
    named is renewed (and superseded) by it. A certificate stays linked to its first successor."""
    record = await _find(tx, text)
    await tx.certificates.mark_renewed(record.id, new_certificate_id)
