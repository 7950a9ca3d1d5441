"""Certificate revocation lists (RFC 5280 §5): one signed CRL of a CA from its revoked entries."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

from cryptography import x509

from ca_core.authority import CertificateAuthority, as_utc
from ca_core.errors import InvalidSetting
from ca_core.revocation import RevocationReason, RevokedEntry
from ca_core.serials import MAX_SERIAL

# One reasonCode extension object per reason, shared by every entry that carries it. RFC 5280 §5.3.1:
# "unspecified" SHOULD be expressed by omitting the extension.
_REASON_EXTENSIONS: Final[dict[RevocationReason, list[x509.Extension[x509.ExtensionType]]]] = {
    reason: [x509.Extension(x509.CRLReason.oid, False, x509.CRLReason(reason.to_x509()))]
    for reason in RevocationReason
    if reason is not RevocationReason.UNSPECIFIED
}
_NO_EXTENSIONS: Final[list[x509.Extension[x509.ExtensionType]]] = []


def _revoked(entries: Iterable[RevokedEntry]) -> list[x509.RevokedCertificate]:
    # Builders are constructed with all their values at once rather than through the chained setters,
    # which copy the builder (and add_revoked_certificate the whole list) at every call: a CRL may hold
    # a million entries. cryptography reads aware datetimes as UTC and naive ones as UTC already.
    reasons, none, build = _REASON_EXTENSIONS, _NO_EXTENSIONS, x509.RevokedCertificateBuilder
    revoked: list[x509.RevokedCertificate] = []
    append = revoked.append
    for entry in entries:
        if not 0 < entry.serial <= MAX_SERIAL:  # the skipped setter would have checked this
            raise InvalidSetting("serial", f"{entry.serial} is not a positive serial of at most 20 octets")
        append(build(entry.serial, entry.revoked_at, reasons.get(entry.reason, none)).build())
    return revoked


def _issuing_distribution_point(url: str) -> x509.Extension[x509.ExtensionType]:
    """RFC 5280 §5.2.5: a CRL that covers only the certificates whose distribution point is `url` says
    so in this critical extension; relying parties (openssl) then accept it only for those. The
    partition may list CA certificates too (a profile can issue them), so no onlyContains flag."""
    point = x509.IssuingDistributionPoint(
        full_name=[x509.UniformResourceIdentifier(url)],
        relative_name=None,
        only_contains_user_certs=False,
        only_contains_ca_certs=False,
        only_some_reasons=None,
        indirect_crl=False,
        only_contains_attribute_certs=False,
    )
    return x509.Extension(x509.IssuingDistributionPoint.oid, True, point)


def build_crl(
    ca: CertificateAuthority,
    entries: Iterable[RevokedEntry],
    *,
    number: int,
    this_update: datetime,
    next_update: datetime,
    distribution_point: str | None = None,
) -> x509.CertificateRevocationList:
    """The CRL numbered `number`, signed by `ca.signer`. A disabled CA still publishes: its revocations
    must stay visible to relying parties. `distribution_point`: the URL of one partition of a
    partitioned CRL, named in its issuing distribution point extension."""
    if not 0 <= number <= MAX_SERIAL:  # RFC 5280 §5.2.3: CRL numbers have the serials' 20-octet limit
        raise InvalidSetting(
            "crlNumber", f"must be a non-negative integer of at most 20 octets, got {number}"
        )
    this_update, next_update = as_utc(this_update), as_utc(next_update)
    if next_update <= this_update:
        raise InvalidSetting("nextUpdate", "must be later than thisUpdate")
    extensions: list[x509.Extension[x509.ExtensionType]] = [
        # RFC 5280 §5.2.1 and §5.2.3: conforming CRL issuers MUST include the AKI and the CRL number.
        x509.Extension(x509.AuthorityKeyIdentifier.oid, False, ca.authority_key_identifier()),
        x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(number)),
    ]
    if distribution_point is not None:
        extensions.append(_issuing_distribution_point(distribution_point))
    builder = x509.CertificateRevocationListBuilder(
        ca.certificate.subject, this_update, next_update, extensions, _revoked(entries)
    )
    return ca.signer.sign_crl(builder)
