"""Certificate authorities: the CA value that signs, creation of roots and intermediates (ours, or
signed by an offline root from our CSR) and the checks on an imported intermediate's chain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from ca_core.errors import CADisabled, InvalidSetting
from ca_core.keys import PublicKey, check_key, public_key_der
from ca_core.request import Subject
from ca_core.signer import Signer

# RFC 5280 §4.2.1.3: a CA key signs certificates (keyCertSign) and CRLs (cRLSign); digitalSignature
# lets the same key sign OCSP responses directly (RFC 6960 §4.2.2.2).
_CA_KEY_USAGE: Final = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def as_utc(moment: datetime) -> datetime:
    """`moment` as an aware UTC datetime; naive values are read as UTC, as cryptography does."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _check_url(field: str, value: str | None) -> None:
    if value is None:
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidSetting(field, f"{value!r} is not an http(s) URL")


MAX_CRL_PARTITIONS: Final = 1024


@dataclass(frozen=True)
class CASettings:
    """What a CA writes into the certificates it signs (CRL and AIA URLs) and its own path length.
    status_url: the base URL of its CRLs and OCSP responder, from which crl_url and ocsp_url default;
    crl_partitions: how many CRLs new certificates are spread over (RFC 5280 §5.2.5)."""

    crl_url: str | None = None
    ocsp_url: str | None = None
    issuer_url: str | None = None
    max_path_length: int | None = None
    status_url: str | None = None
    crl_partitions: int = 1

    def __post_init__(self) -> None:
        # RFC 5280 §4.2.1.13 / §4.2.2.1: clients fetch these over HTTP; we publish nothing else.
        _check_url("crlUrl", self.crl_url)
        _check_url("ocspUrl", self.ocsp_url)
        _check_url("issuerUrl", self.issuer_url)
        _check_url("statusUrl", self.status_url)
        check_crl_partitions(self.crl_partitions, self.crl_url)
        if self.max_path_length is not None and (
            isinstance(self.max_path_length, bool) or self.max_path_length < 0
        ):
            raise InvalidSetting(
                "maxPathLength", f"must be a non-negative integer, got {self.max_path_length}"
            )

    def crl_url_of(self, partition: int) -> str | None:
        """The CRL URL of `partition`: partition 0 is the CA's CRL URL itself (what its certificates
        named before it was partitioned), partition k that URL with `.crl` replaced by `/k.crl`."""
        if self.crl_url is None or partition == 0:
            return self.crl_url
        return f"{self.crl_url.removesuffix('.crl')}/{partition}.crl"

    def crl_partition_of(self, serial: int) -> int:
        """The partition a new certificate with `serial` is listed in: serials are random, so this
        spreads certificates evenly, and it depends on nothing that can change before it is stored."""
        return serial % self.crl_partitions


def check_crl_partitions(partitions: int, crl_url: str | None) -> None:
    if isinstance(partitions, bool) or not isinstance(partitions, int):
        raise InvalidSetting("crlPartitions", f"must be an integer, got {partitions!r}")
    if not 1 <= partitions <= MAX_CRL_PARTITIONS:
        raise InvalidSetting("crlPartitions", f"must be from 1 to {MAX_CRL_PARTITIONS}, got {partitions}")
    if partitions > 1 and crl_url is not None and not crl_url.endswith(".crl"):
        raise InvalidSetting(
            "crlPartitions", f"partitions are named after a CRL URL ending in .crl, not {crl_url!r}"
        )


def common_name_of(certificate: x509.Certificate) -> str:
    """The subject CN, or the whole RFC 4514 subject when there is none."""
    found = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = found[0].value if found else None
    return value if isinstance(value, str) else certificate.subject.rfc4514_string()


def _basic_constraints(certificate: x509.Certificate) -> x509.BasicConstraints | None:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None


def _pem(certificates: Sequence[x509.Certificate]) -> str:
    return "".join(c.public_bytes(Encoding.PEM).decode() for c in certificates)


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA ready to sign: its certificate, the issuers above it and the signer holding its key."""

    id: str
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # the issuers above this CA, up to and including the root
    signer: Signer
    settings: CASettings
    enabled: bool = True

    @property
    def name(self) -> str:
        return common_name_of(self.certificate)

    @property
    def is_root(self) -> bool:
        return not self.chain and self.certificate.subject == self.certificate.issuer

    @property
    def path_length(self) -> int | None:
        constraints = _basic_constraints(self.certificate)
        return constraints.path_length if constraints else None

    def check_enabled(self) -> None:
        if not self.enabled:
            raise CADisabled(f"CA {self.name} is disabled")

    def chain_pem(self) -> str:
        """This CA's certificate followed by the issuers above it, as PEM."""
        return _pem((self.certificate, *self.chain))

    def authority_key_identifier(self) -> x509.AuthorityKeyIdentifier:
        """The AKI for what this CA signs: its own SKI (RFC 5280 §4.2.1.1), computed from its key when
        the certificate lacks one."""
        try:
            ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        except x509.ExtensionNotFound:
            return x509.AuthorityKeyIdentifier.from_issuer_public_key(self.signer.public_key)
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def child_path_length(parent: CertificateAuthority, requested: int | None, *, field: str) -> int | None:
    """The pathLen a CA certificate signed by `parent` may carry (RFC 5280 §4.2.1.9): below the
    parent's; when `requested` is None under a constrained parent, the largest allowed."""
    limit = parent.path_length
    if limit is None:
        return requested
    if limit == 0:
        raise InvalidSetting(field, f"CA {parent.name} has path length 0 and cannot sign another CA")
    if requested is None:
        return limit - 1
    if requested >= limit:
        raise InvalidSetting(field, f"must be less than {limit}, the path length of CA {parent.name}")
    return requested


def validity_window(
    start: datetime, lifetime: timedelta, limit: datetime | None
) -> tuple[datetime, datetime]:
    """notBefore = `start` and notAfter = start + lifetime, clipped to `limit` (the issuer's notAfter):
    a chain is only as valid as its shortest-lived certificate (RFC 5280 §6.1.3 (a)(2))."""
    if lifetime <= timedelta(0):
        raise InvalidSetting("validity", "must be longer than zero")
    not_before = as_utc(start)
    not_after = not_before + lifetime
    if limit is not None and limit < not_after:
        if limit <= not_before:
            raise InvalidSetting(
                "validity", f"the issuing CA expires at {limit:%Y-%m-%d %H:%M:%S}Z, before notBefore"
            )
        not_after = limit
    return not_before, not_after


def _subject_name(subject: Subject) -> x509.Name:
    name = subject.to_x509_name()
    if not name.rdns:  # RFC 5280 §4.1.2.6: a CA's subject must be a non-empty distinguished name
        raise InvalidSetting("subject", "a CA needs a non-empty subject (at least a common name)")
    return name


def _ca_builder(
    subject: x509.Name,
    public_key: PublicKey,
    serial: int,
    validity: tuple[datetime, datetime],
    path: int | None,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        # RFC 5280 §4.2.1.9: basicConstraints MUST be critical in CA certificates.
        .add_extension(x509.BasicConstraints(ca=True, path_length=path), critical=True)
        .add_extension(_CA_KEY_USAGE, critical=True)  # §4.2.1.3: SHOULD be critical
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def create_root(
    subject: Subject,
    signer: Signer,
    *,
    now: datetime,
    validity: timedelta,
    serial: int,
    settings: CASettings,
) -> x509.Certificate:
    """A self-signed root certificate for `signer`'s key."""
    name = _subject_name(subject)
    public_key = signer.public_key
    check_key(public_key)
    builder = _ca_builder(
        name, public_key, serial, validity_window(now, validity, None), settings.max_path_length
    )
    # RFC 5280 §4.2.1.1: the AKI may be omitted in a self-signed root; keeping it (equal to the SKI)
    # helps chain builders that match on key identifiers only.
    builder = builder.issuer_name(name).add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False
    )
    return signer.sign_certificate(builder)


def distribution_extensions(settings: CASettings, *, partition: int = 0) -> list[x509.ExtensionType]:
    """CRL distribution point (RFC 5280 §4.2.1.13) naming the CRL of `partition`, and AIA (§4.2.2.1),
    for what a CA with `settings` signs; both non-critical."""
    extensions: list[x509.ExtensionType] = []
    crl_url = settings.crl_url_of(partition)
    if crl_url:
        point = x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(crl_url)],
            relative_name=None,
            reasons=None,
            crl_issuer=None,
        )
        extensions.append(x509.CRLDistributionPoints([point]))
    access = []
    if settings.ocsp_url:
        access.append(
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(settings.ocsp_url)
            )
        )
    if settings.issuer_url:
        access.append(
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(settings.issuer_url)
            )
        )
    if access:
        extensions.append(x509.AuthorityInformationAccess(access))
    return extensions


def create_intermediate(
    parent: CertificateAuthority,
    subject: Subject,
    public_key: PublicKey,
    *,
    now: datetime,
    validity: timedelta,
    serial: int,
    settings: CASettings,
) -> x509.Certificate:
    """An intermediate CA certificate for `public_key`, signed by `parent`, carrying the parent's CRL
    and AIA URLs. With no max_path_length under a constrained parent it gets the parent's limit - 1."""
    parent.check_enabled()
    check_key(public_key)
    name = _subject_name(subject)
    if name == parent.certificate.subject:
        raise InvalidSetting("subject", "must differ from the parent CA's subject")
    path = child_path_length(parent, settings.max_path_length, field="maxPathLength")
    window = validity_window(now, validity, parent.certificate.not_valid_after_utc)
    builder = _ca_builder(name, public_key, serial, window, path).issuer_name(parent.certificate.subject)
    builder = builder.add_extension(parent.authority_key_identifier(), critical=False)
    for extension in distribution_extensions(parent.settings):
        builder = builder.add_extension(extension, critical=False)
    return parent.signer.sign_certificate(builder)


def create_intermediate_csr(subject: Subject, signer: Signer) -> x509.CertificateSigningRequest:
    """A CSR for an offline root to sign, asking for a CA certificate (basicConstraints CA:TRUE and the
    CA key usages, in the PKCS#9 extensionRequest)."""
    check_key(signer.public_key)
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_subject_name(subject))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_CA_KEY_USAGE, critical=True)
    )
    return signer.sign_csr(builder)


def _is_ca(certificate: x509.Certificate) -> bool:
    """RFC 5280 §4.2.1.9 cA true and, when keyUsage is present, keyCertSign (§4.2.1.3)."""
    constraints = _basic_constraints(certificate)
    if constraints is None or not constraints.ca:
        return False
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return usage.key_cert_sign


def _signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _find_issuer(certificate: x509.Certificate, pool: list[x509.Certificate]) -> x509.Certificate | None:
    return next((c for c in pool if _signed_by(certificate, c)), None)


def _subject_text(certificate: x509.Certificate) -> str:
    return certificate.subject.rfc4514_string()


def _check_signature_hash(certificate: x509.Certificate, field: str) -> None:
    """Refuse signatures made with broken digests (CA/B Forum BR §7.1.3.2: no SHA-1, no MD5), which
    cryptography would otherwise only report as "does not verify"."""
    try:
        digest = certificate.signature_hash_algorithm
    except UnsupportedAlgorithm:
        raise InvalidSetting(
            field, f"{_subject_text(certificate)} uses an unsupported signature algorithm"
        ) from None
    if isinstance(digest, hashes.SHA1 | hashes.MD5):
        name = digest.name.upper().replace("SHA1", "SHA-1")
        raise InvalidSetting(
            field, f"{_subject_text(certificate)} is signed with {name}, which is not accepted"
        )


def _issuer_in(pool: list[x509.Certificate], current: x509.Certificate, first: bool) -> x509.Certificate:
    issuer = _find_issuer(current, pool)
    if issuer is not None:
        if not _is_ca(issuer):
            raise InvalidSetting("chain", f"{_subject_text(issuer)} is not a CA certificate")
        return issuer
    if first:
        issuer_name = current.issuer.rfc4514_string()
        raise InvalidSetting(
            "certificate", f"its signature does not verify with any certificate of the chain ({issuer_name})"
        )
    if current.subject == current.issuer:
        raise InvalidSetting("chain", f"the self-signature of root {_subject_text(current)} does not verify")
    raise InvalidSetting("chain", f"no certificate in the chain issued {_subject_text(current)}")


def _chain_above(certificate: x509.Certificate, chain: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """The issuers from `certificate` up to a self-signed root, picked from `chain` in any order."""
    pool = [c for c in chain if c != certificate]
    path: list[x509.Certificate] = []
    current = certificate
    _check_signature_hash(certificate, "certificate")
    while not (path and _signed_by(current, current)):
        if path:
            _check_signature_hash(current, "chain")
        issuer = _issuer_in(pool, current, first=not path)
        pool.remove(issuer)
        path.append(issuer)
        current = issuer
    return path


def check_signed_intermediate(
    certificate: x509.Certificate, chain: Sequence[x509.Certificate], public_key: PublicKey
) -> tuple[x509.Certificate, ...]:
    """Accept the certificate an offline root signed for our CSR: same key, a CA, verified by the
    chain up to a self-signed root. Returns that chain, issuer first."""
    if public_key_der(certificate.public_key()) != public_key_der(public_key):
        raise InvalidSetting("certificate", "it certifies a different key than this CA's CSR")
    if not _is_ca(certificate):
        raise InvalidSetting(
            "certificate", "not a CA certificate: it needs basicConstraints CA:TRUE (and keyCertSign)"
        )
    if not chain:
        raise InvalidSetting("chain", "give the issuing CA certificate and the chain up to the root")
    if certificate.subject == certificate.issuer and _signed_by(certificate, certificate):
        raise InvalidSetting("certificate", "it is self-signed, not signed by the offline root")
    return tuple(_chain_above(certificate, chain))
