"""The OCSP responder (RFC 6960): find the CA a request names, look the serial up in the inventory
(or among the CA's subordinate CAs), and sign good / revoked / unknown — with the CA key or a
delegated responder certificate this process issues itself. Reads only: safe in the status sidecar."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives import hashes

from acme_server.services.config import cas
from acme_server.services.runtime import Runtime
from acme_server.statuses import CertificateStatus
from acme_server.storage import CARecord, Tx
from ca_core.authority import CertificateAuthority
from ca_core.export import load_certificates_pem
from ca_core.keys import KeyAlgorithm, generate_key
from ca_core.ocsp import (
    CertID,
    CertStatus,
    ErrorStatus,
    MalformedOCSPRequest,
    Responder,
    StatusAnswer,
    build_response,
    create_responder_certificate,
    error_response,
    parse_request,
)
from ca_core.revocation import RevocationReason
from ca_core.serials import format_serial, random_serial
from ca_core.signer import SoftwareSigner

# How long a response may be relied on (nextUpdate), and how long caches may keep a GET answer.
RESPONSE_VALIDITY = timedelta(hours=1)
CACHE_SECONDS = 300
RESPONDER_VALIDITY = timedelta(days=7)  # delegated responder certificates: short-lived, not revocable
RESPONDER_RENEW_BEFORE = timedelta(days=2)


@dataclass(frozen=True)
class OCSPResult:
    """A DER OCSPResponse and what HTTP caching it allows."""

    der: bytes
    this_update: datetime | None = None  # None: an unsuccessful response
    next_update: datetime | None = None
    has_nonce: bool = False

    @property
    def cacheable(self) -> bool:
        """A response echoing a nonce answers one request only (RFC 5019 §5 caching needs no nonce)."""
        return self.this_update is not None and not self.has_nonce


async def respond(rt: Runtime, request_der: bytes) -> OCSPResult:
    """The response to one DER OCSP request; protocol errors are OCSP error statuses, not exceptions
    (RFC 6960 §2.3: malformedRequest, unauthorized for a CA we do not serve)."""
    try:
        query = parse_request(request_der)
    except MalformedOCSPRequest:
        return OCSPResult(error_response(ErrorStatus.MALFORMED_REQUEST))
    async with rt.storage.read() as tx:
        records = [r for r in await tx.cas.list() if r.certificate_pem is not None]
        issuer = _issuer(query.cert_id, records)
        if issuer is None:
            return OCSPResult(error_response(ErrorStatus.UNAUTHORIZED))
        answer = await _answer(tx, issuer, records, query.cert_id.serial)
    authority = cas.authority_from_record(rt, issuer)
    # A disabled CA signs no new certificate, not even a responder's: it answers with its own key.
    delegated = rt.ocsp_responder == "delegated" and authority.enabled
    responder = await _responder(rt, authority) if delegated else None
    now = rt.clock.now()
    der = await asyncio.to_thread(
        build_response,
        authority,
        query,
        answer,
        this_update=now,
        next_update=now + RESPONSE_VALIDITY,
        responder=responder,
    )
    return OCSPResult(der, now, now + RESPONSE_VALIDITY, has_nonce=query.nonce is not None)


def _issuer(cert_id: CertID, records: list[CARecord]) -> CARecord | None:
    for record in records:
        assert record.certificate_pem is not None
        if cert_id.matches(load_certificates_pem(record.certificate_pem.encode())[0]):
            return record
    return None


async def _answer(tx: Tx, issuer: CARecord, records: list[CARecord], serial: int) -> StatusAnswer:
    """good / revoked (time, reason) for a certificate the CA issued; good for one of its subordinate
    CAs (their certificates carry the same AIA); unknown for any other serial."""
    found = await tx.certificates.get_by_serial(issuer.id, format_serial(serial))
    if found is not None:
        if found.status == CertificateStatus.REVOKED and found.revoked_at is not None:
            reason = RevocationReason(found.revocation_reason or RevocationReason.UNSPECIFIED)
            return StatusAnswer(CertStatus.REVOKED, found.revoked_at, reason)
        return StatusAnswer(CertStatus.GOOD)
    for child in records:
        if child.parent_id != issuer.id or child.certificate_pem is None:
            continue
        if load_certificates_pem(child.certificate_pem.encode())[0].serial_number == serial:
            return StatusAnswer(CertStatus.GOOD)
    return StatusAnswer(CertStatus.UNKNOWN)


async def _responder(rt: Runtime, authority: CertificateAuthority) -> Responder:
    """This process's delegated responder for the CA: a fresh key and a short-lived id-kp-OCSPSigning
    certificate from the CA, kept in memory and replaced before it expires."""
    key = ("ocsp-responder", authority.id, authority.certificate.fingerprint(hashes.SHA256()))
    cached = rt.status_cache.get(key)
    now = rt.clock.now()
    if (
        isinstance(cached, Responder)
        and cached.certificate.not_valid_after_utc - now > RESPONDER_RENEW_BEFORE
    ):
        return cached
    private_key = await asyncio.to_thread(generate_key, KeyAlgorithm.EC_prime256v1)
    certificate = await asyncio.to_thread(
        create_responder_certificate,
        authority,
        private_key.public_key(),
        now=now - timedelta(minutes=5),  # clock skew of relying parties
        validity=RESPONDER_VALIDITY,
        serial=random_serial(),
    )
    responder = Responder(SoftwareSigner(private_key), certificate)
    rt.status_cache[key] = responder
    return responder
