"""ACME certificate download and revocation (RFC 8555 §7.4.2, §7.6). A revocation lands in the same
inventory, CRL and status data as one through the REST API or the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from acme_server.errors import BadRevocationReason, Malformed, NotFound, Unauthorized
from acme_server.services.acme.accounts import Account
from acme_server.services.config import catalog
from acme_server.services.inventory import certificates, edits
from acme_server.services.inventory.certificates import CertificateInfo
from acme_server.services.platform import audit
from acme_server.services.runtime import Runtime
from acme_server.statuses import AuthorizationStatus
from ca_core.errors import InvalidSetting
from ca_core.jose import JWK, jwk_of
from ca_core.keys import checked_public_key
from ca_core.revocation import RevocationReason
from ca_core.serials import format_serial

# §7.6: RFC 5280 codes; 7 is unused and 8 (removeFromCRL) only applies to delta CRLs.
_ACME_REASONS = frozenset({0, 1, 2, 3, 4, 5, 6, 9, 10})


@dataclass(frozen=True)
class Download:
    """What §7.4.2 serves: the certificate and its chains, the primary one first, then alternates."""

    certificate_pem: str
    chains: tuple[str, ...]


async def download(rt: Runtime, account: Account, certificate_id: str) -> Download:
    """§7.4.2: the account that ordered a certificate downloads it. One read: the certificate row and
    the catalog (for the alternate chains), no metadata."""
    async with rt.storage.read() as tx:
        record = await certificates.find_record(tx, certificate_id)
        configuration = await catalog.catalog_in(rt, tx) if record.ca_id else None
    if record.enrollment != "acme" or record.account_id != account.id:
        raise Unauthorized("this certificate was not issued to this account")
    alternates = configuration.alternate_chains(record.ca_id) if configuration and record.ca_id else []
    return Download(record.certificate_pem, (record.chain_pem, *alternates))


def reason_from_code(code: object) -> RevocationReason:
    if code is None:
        return RevocationReason.UNSPECIFIED
    if not isinstance(code, int) or isinstance(code, bool) or code not in _ACME_REASONS:
        raise BadRevocationReason(
            f"revocation reason {code!r} is not allowed; use one of {sorted(_ACME_REASONS)}"
        )
    try:
        return RevocationReason.from_code(code)
    except InvalidSetting as exc:
        raise BadRevocationReason(exc.detail) from None


async def _find(rt: Runtime, der: bytes) -> tuple[x509.Certificate, CertificateInfo]:
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError:
        raise Malformed("the certificate is not DER X.509") from None
    found = await certificates.find_by_certificate(rt, certificate)
    if found is None:
        raise NotFound("certificate", format_serial(certificate.serial_number))
    return certificate, found


async def _authorized_for_all(rt: Runtime, account: Account, info: CertificateInfo) -> bool:
    """§7.6: an account holding valid authorizations for every identifier may revoke too."""
    details = info.details
    identifiers = [("dns", n) for n in details.sans.dns] + [("ip", str(a)) for a in details.sans.ip]
    async with rt.storage.read() as tx:
        for kind, value in identifiers:
            wildcard = value.startswith("*.")
            found = await tx.authorizations.find_reusable(
                account.id, kind, value[2:] if wildcard else value, wildcard, valid_after=rt.clock.now()
            )
            if found is None or found.status != AuthorizationStatus.VALID:
                return False
    return bool(identifiers)


async def revoke(
    rt: Runtime, der: bytes, reason_code: object, *, account: Account | None, jwk: JWK | None
) -> None:
    """Revoke as the issuing account, an account authorized for all names, or the certificate key."""
    reason = reason_from_code(reason_code)
    certificate, info = await _find(rt, der)
    if info.certificate_pem.encode() != certificate.public_bytes(Encoding.PEM):
        raise NotFound("certificate", info.serial)
    if jwk is not None and jwk_of(checked_public_key(certificate.public_key())).thumbprint != jwk.thumbprint:
        raise Unauthorized("the JWS key is not this certificate's key")
    if (
        account is not None
        and info.account_id != account.id
        and not await _authorized_for_all(rt, account, info)
    ):
        raise Unauthorized("this account may not revoke this certificate")
    # Who acts: the account, or (revoking with the certificate's own key) the key's holder.
    actor = audit.account_actor(account.id) if account is not None else audit.Actor("key", "certificate key")
    with audit.acting(actor):
        await edits.revoke_certificate(rt, info.id, reason, source="acme")
