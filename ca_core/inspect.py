"""Certificate details as the inventory, UI and API show them, worded the way `openssl x509 -text`
prints them (signature algorithm names, colon-separated fingerprints)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from cryptography.x509.oid import SignatureAlgorithmOID as Sig

from ca_core.errors import BadPublicKey, InvalidSetting
from ca_core.keys import check_key, checked_public_key
from ca_core.profile import ExtendedKeyUsage, KeyUsage
from ca_core.request import IPAddress, Subject, SubjectAltNames
from ca_core.serials import format_serial

# OpenSSL's long names (what `openssl x509 -text` prints as "Signature Algorithm").
_SIGNATURE_NAMES: Final = {
    Sig.RSA_WITH_MD5: "md5WithRSAEncryption",
    Sig.RSA_WITH_SHA1: "sha1WithRSAEncryption",
    Sig.RSA_WITH_SHA224: "sha224WithRSAEncryption",
    Sig.RSA_WITH_SHA256: "sha256WithRSAEncryption",
    Sig.RSA_WITH_SHA384: "sha384WithRSAEncryption",
    Sig.RSA_WITH_SHA512: "sha512WithRSAEncryption",
    Sig.RSASSA_PSS: "rsassaPss",
    Sig.ECDSA_WITH_SHA1: "ecdsa-with-SHA1",
    Sig.ECDSA_WITH_SHA224: "ecdsa-with-SHA224",
    Sig.ECDSA_WITH_SHA256: "ecdsa-with-SHA256",
    Sig.ECDSA_WITH_SHA384: "ecdsa-with-SHA384",
    Sig.ECDSA_WITH_SHA512: "ecdsa-with-SHA512",
    Sig.DSA_WITH_SHA1: "dsaWithSHA1",
    Sig.DSA_WITH_SHA224: "dsa_with_SHA224",
    Sig.DSA_WITH_SHA256: "dsa_with_SHA256",
    Sig.ED25519: "ED25519",
    Sig.ED448: "ED448",
}
_EKU_NAMES: Final = {
    ExtendedKeyUsageOID.SERVER_AUTH: ExtendedKeyUsage.SERVER_AUTH,
    ExtendedKeyUsageOID.CLIENT_AUTH: ExtendedKeyUsage.CLIENT_AUTH,
    ExtendedKeyUsageOID.CODE_SIGNING: ExtendedKeyUsage.CODE_SIGNING,
    ExtendedKeyUsageOID.EMAIL_PROTECTION: ExtendedKeyUsage.EMAIL_PROTECTION,
    ExtendedKeyUsageOID.TIME_STAMPING: ExtendedKeyUsage.TIME_STAMPING,
    ExtendedKeyUsageOID.OCSP_SIGNING: ExtendedKeyUsage.OCSP_SIGNING,
}

_E = TypeVar("_E", bound=x509.ExtensionType)


@dataclass(frozen=True)
class CertificateDetails:
    common_name: str | None
    serial: str  # format_serial: even-length lowercase hex
    not_before: datetime  # aware, UTC
    not_after: datetime
    subject_dn: str  # RFC 4514
    issuer: str  # RFC 4514
    issuer_common_name: str | None
    subject: Subject
    sans: SubjectAltNames
    is_ca: bool
    path_length: int | None
    key_usages: tuple[str, ...]  # ca_core.profile.KeyUsage values
    extended_key_usages: tuple[str, ...]  # ca_core.profile.ExtendedKeyUsage values, else dotted OIDs
    key_algorithm: str  # a KeyAlgorithm value, or e.g. "RSA_1024", "EC_secp256k1", "DSA_2048"
    signature_algorithm: str  # OpenSSL's name: sha256WithRSAEncryption, ecdsa-with-SHA256, ED25519
    fingerprint_sha256: str  # uppercase hex with colons, as `openssl x509 -fingerprint` prints
    fingerprint_sha1: str
    self_signed: bool
    crl_urls: tuple[str, ...]
    ocsp_urls: tuple[str, ...]
    ca_issuer_urls: tuple[str, ...]
    subject_key_id: str | None  # lowercase hex
    authority_key_id: str | None


def _colon_hex(digest: bytes) -> str:
    return digest.hex(":").upper()


def _first(name: x509.Name) -> str | None:
    found = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = found[0].value if found else None
    return value if isinstance(value, str) else None


def _extension(extensions: x509.Extensions, kind: type[_E]) -> _E | None:
    try:
        return extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _sans(extension: x509.SubjectAlternativeName | None) -> SubjectAltNames:
    if extension is None:
        return SubjectAltNames()
    return SubjectAltNames(
        dns=tuple(extension.get_values_for_type(x509.DNSName)),
        ip=tuple(a for a in extension.get_values_for_type(x509.IPAddress) if isinstance(a, IPAddress)),
        email=tuple(extension.get_values_for_type(x509.RFC822Name)),
        uri=tuple(extension.get_values_for_type(x509.UniformResourceIdentifier)),
    )


def _key_usages(usage: x509.KeyUsage | None) -> tuple[str, ...]:
    if usage is None:
        return ()
    flags = [u for u in KeyUsage if u not in (KeyUsage.ENCIPHER_ONLY, KeyUsage.DECIPHER_ONLY)]
    names = [u.value for u in flags if getattr(usage, u.value)]
    if usage.key_agreement:  # the two remaining bits are only defined with keyAgreement (RFC 5280 §4.2.1.3)
        names += [
            u.value for u in (KeyUsage.ENCIPHER_ONLY, KeyUsage.DECIPHER_ONLY) if getattr(usage, u.value)
        ]
    return tuple(names)


def _extended_key_usages(usage: x509.ExtendedKeyUsage | None) -> tuple[str, ...]:
    if usage is None:
        return ()
    return tuple(_EKU_NAMES[oid].value if oid in _EKU_NAMES else oid.dotted_string for oid in usage)


def _key_algorithm(certificate: x509.Certificate) -> str:
    key = certificate.public_key()
    try:
        return check_key(checked_public_key(key)).value
    except BadPublicKey:
        pass
    if isinstance(key, rsa.RSAPublicKey | dsa.DSAPublicKey):
        return f"{'RSA' if isinstance(key, rsa.RSAPublicKey) else 'DSA'}_{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC_{key.curve.name}"
    return type(key).__name__.removesuffix("PublicKey").upper()


def _signature_algorithm(certificate: x509.Certificate) -> str:
    oid = certificate.signature_algorithm_oid
    return _SIGNATURE_NAMES.get(oid, oid.dotted_string)


def _is_self_signed(certificate: x509.Certificate, ski: bytes | None, aki: bytes | None) -> bool:
    if certificate.subject != certificate.issuer:
        return False
    try:
        certificate.verify_directly_issued_by(certificate)
    except InvalidSignature:
        return False
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # A signature cryptography will not check (SHA-1, MD5, DSA): judge by names and key
        # identifiers, as OpenSSL marks a certificate self-signed (EXFLAG_SS) without verifying.
        return aki is None or aki == ski
    return True


def _access_urls(
    aia: x509.AuthorityInformationAccess | None, method: x509.ObjectIdentifier
) -> tuple[str, ...]:
    if aia is None:
        return ()
    return tuple(
        d.access_location.value
        for d in aia
        if d.access_method == method and isinstance(d.access_location, x509.UniformResourceIdentifier)
    )


def _crl_urls(points: x509.CRLDistributionPoints | None) -> tuple[str, ...]:
    if points is None:
        return ()
    return tuple(
        n.value for p in points for n in p.full_name or () if isinstance(n, x509.UniformResourceIdentifier)
    )


@dataclass(frozen=True)
class InventoryFields:
    """What an inventory row stores of a certificate (the columns it is listed and searched by)."""

    common_name: str | None
    sans: SubjectAltNames
    not_before: datetime
    not_after: datetime
    key_algorithm: str
    fingerprint_sha256: str


def inventory_fields(certificate: x509.Certificate) -> InventoryFields:
    """The part of inspect_certificate an inventory row needs, for every certificate issuance stores:
    no DN strings, SHA-1, key usages or self-signature check, which cost more than the row's INSERT."""
    try:
        sans = _sans(_extension(certificate.extensions, x509.SubjectAlternativeName))
    except ValueError as exc:
        raise InvalidSetting("certificate", f"its extensions are malformed: {exc}") from None
    return InventoryFields(
        common_name=_first(certificate.subject),
        sans=sans,
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        key_algorithm=_key_algorithm(certificate),
        fingerprint_sha256=_colon_hex(certificate.fingerprint(hashes.SHA256())),
    )


def inspect_certificate(certificate: x509.Certificate) -> CertificateDetails:
    """Everything the details page shows about `certificate` (ours or imported)."""
    try:
        extensions = certificate.extensions
    except ValueError as exc:  # duplicate or malformed extensions in a foreign certificate
        raise InvalidSetting("certificate", f"its extensions are malformed: {exc}") from None
    constraints = _extension(extensions, x509.BasicConstraints)
    aia = _extension(extensions, x509.AuthorityInformationAccess)
    ski = _extension(extensions, x509.SubjectKeyIdentifier)
    aki = _extension(extensions, x509.AuthorityKeyIdentifier)
    ski_bytes = ski.digest if ski else None
    aki_bytes = aki.key_identifier if aki else None
    return CertificateDetails(
        common_name=_first(certificate.subject),
        serial=format_serial(certificate.serial_number),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        subject_dn=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        issuer_common_name=_first(certificate.issuer),
        subject=Subject.from_x509_name(certificate.subject),
        sans=_sans(_extension(extensions, x509.SubjectAlternativeName)),
        is_ca=bool(constraints and constraints.ca),
        path_length=constraints.path_length if constraints else None,
        key_usages=_key_usages(_extension(extensions, x509.KeyUsage)),
        extended_key_usages=_extended_key_usages(_extension(extensions, x509.ExtendedKeyUsage)),
        key_algorithm=_key_algorithm(certificate),
        signature_algorithm=_signature_algorithm(certificate),
        fingerprint_sha256=_colon_hex(certificate.fingerprint(hashes.SHA256())),
        fingerprint_sha1=_colon_hex(certificate.fingerprint(hashes.SHA1())),
        self_signed=_is_self_signed(certificate, ski_bytes, aki_bytes),
        crl_urls=_crl_urls(_extension(extensions, x509.CRLDistributionPoints)),
        ocsp_urls=_access_urls(aia, AuthorityInformationAccessOID.OCSP),
        ca_issuer_urls=_access_urls(aia, AuthorityInformationAccessOID.CA_ISSUERS),
        subject_key_id=ski_bytes.hex() if ski_bytes else None,
        authority_key_id=aki_bytes.hex() if aki_bytes else None,
    )
