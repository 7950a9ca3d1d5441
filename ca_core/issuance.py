"""Issuance: turn a checked request and a profile into a signed end-entity (or self-signed)
certificate. Every extension rule of the product lives here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from ca_core.authority import (
    CertificateAuthority,
    child_path_length,
    distribution_extensions,
    validity_window,
)
from ca_core.errors import BadCSR, InvalidSetting, KeyNotAllowed
from ca_core.keys import KeyAlgorithm, PrivateKey, PublicKey, check_key, public_key_der
from ca_core.profile import ExtendedKeyUsage, IssuerType, KeyUsage, Profile
from ca_core.request import CertificateRequest, Subject, SubjectAltNames
from ca_core.signer import SoftwareSigner

_EKU_OIDS: Final = {
    ExtendedKeyUsage.SERVER_AUTH: ExtendedKeyUsageOID.SERVER_AUTH,
    ExtendedKeyUsage.CLIENT_AUTH: ExtendedKeyUsageOID.CLIENT_AUTH,
    ExtendedKeyUsage.CODE_SIGNING: ExtendedKeyUsageOID.CODE_SIGNING,
    ExtendedKeyUsage.EMAIL_PROTECTION: ExtendedKeyUsageOID.EMAIL_PROTECTION,
    ExtendedKeyUsage.TIME_STAMPING: ExtendedKeyUsageOID.TIME_STAMPING,
    ExtendedKeyUsage.OCSP_SIGNING: ExtendedKeyUsageOID.OCSP_SIGNING,
}
_SIGNING: Final = frozenset({KeyUsage.DIGITAL_SIGNATURE, KeyUsage.CONTENT_COMMITMENT})
_CA_USAGES: Final = frozenset({KeyUsage.KEY_CERT_SIGN, KeyUsage.CRL_SIGN})
# The usages each key type can perform. RSA: RFC 3279 §2.3.1 (no keyAgreement). EC: RFC 5480 §3 and
# RFC 8813 (no keyEncipherment or dataEncipherment: ECDSA/ECDH keys cannot encipher). Ed25519:
# RFC 8410 §5 (signing usages only).
_RSA_USAGES: Final = _SIGNING | _CA_USAGES | {KeyUsage.KEY_ENCIPHERMENT, KeyUsage.DATA_ENCIPHERMENT}
_EC_USAGES: Final = (
    _SIGNING | _CA_USAGES | {KeyUsage.KEY_AGREEMENT, KeyUsage.ENCIPHER_ONLY, KeyUsage.DECIPHER_ONLY}
)
_POSSIBLE_USAGES: Final = {
    KeyAlgorithm.RSA_2048: _RSA_USAGES,
    KeyAlgorithm.RSA_3072: _RSA_USAGES,
    KeyAlgorithm.RSA_4096: _RSA_USAGES,
    KeyAlgorithm.EC_prime256v1: _EC_USAGES,
    KeyAlgorithm.EC_secp384r1: _EC_USAGES,
    KeyAlgorithm.ED25519: _SIGNING | _CA_USAGES,
}


def _pem(certificates: tuple[x509.Certificate, ...]) -> str:
    return "".join(c.public_bytes(Encoding.PEM).decode() for c in certificates)


@dataclass(frozen=True)
class IssuedCertificate:
    """A signed certificate, the issuers above it (issuing CA first), for managed issuance its key, and
    the CRL partition its distribution point names (0 when the CA is not partitioned)."""

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    private_key: PrivateKey | None = None
    crl_partition: int = 0

    @property
    def serial(self) -> int:
        return self.certificate.serial_number

    @property
    def certificate_pem(self) -> str:
        return _pem((self.certificate,))

    @property
    def chain_pem(self) -> str:
        return _pem(self.chain)

    @property
    def fullchain_pem(self) -> str:
        return _pem((self.certificate, *self.chain))


def _check_key_allowed(profile: Profile, public_key: PublicKey) -> KeyAlgorithm:
    """The one check of a key against the profile's allowedKeyAlgorithms (after the weak-key check):
    its algorithm, or KeyNotAllowed."""
    algorithm = check_key(public_key)
    if algorithm not in profile.allowed_key_algorithms:
        allowed = tuple(sorted(a.value for a in profile.allowed_key_algorithms))
        raise KeyNotAllowed(algorithm.value, profile.name, allowed)
    return algorithm


def _check_names(subject: Subject, sans: SubjectAltNames) -> None:
    # RFC 5280 §4.1.2.6: with an empty subject the identity lives in the SAN extension alone.
    if not subject.common_name and not sans:
        raise BadCSR("the request names no subject common name and no subject alternative name")


@dataclass(frozen=True)
class CheckedRequest:
    """A request that passed `profile`'s key and name rules (check_request): what issue() signs
    without checking it again. Checked against another profile object, it is checked anew."""

    request: CertificateRequest
    profile: Profile
    algorithm: KeyAlgorithm


def check_request(profile: Profile, request: CertificateRequest) -> CheckedRequest:
    """Everything about `request` itself that `profile` decides, before anything is signed or stored
    (a caller runs it once, early: RFC 8555 §7.4 wants a bad CSR refused while the order is ready)."""
    algorithm = _check_key_allowed(profile, request.public_key)
    _check_names(request.subject, request.sans)
    return CheckedRequest(request, profile, algorithm)


def _checked(profile: Profile, request: CertificateRequest | CheckedRequest) -> CheckedRequest:
    if isinstance(request, CheckedRequest):
        if request.profile is profile:
            return request
        request = request.request
    return check_request(profile, request)


def _check_private_key(private_key: PrivateKey | None, public_key: PublicKey) -> None:
    if private_key is not None and public_key_der(private_key.public_key()) != public_key_der(public_key):
        raise InvalidSetting("privateKey", "does not match the request's public key")


def _key_usage(profile: Profile, algorithm: KeyAlgorithm) -> x509.KeyUsage | None:
    """The profile's usages that the key can perform; None when nothing is left (RFC 5280 §4.2.1.3: a
    present keyUsage asserts at least one bit)."""
    usages = profile.key_usages & _POSSIBLE_USAGES[algorithm]
    if not profile.basic_constraints_ca:
        usages -= _CA_USAGES  # §4.2.1.3: keyCertSign needs cA; a leaf signs no CRL of its own
    if KeyUsage.KEY_AGREEMENT not in usages:
        usages -= {KeyUsage.ENCIPHER_ONLY, KeyUsage.DECIPHER_ONLY}  # only meaningful with keyAgreement
    if not usages:
        return None
    return x509.KeyUsage(**{usage.value: usage in usages for usage in KeyUsage})


def _basic_constraints(profile: Profile, ca: CertificateAuthority | None) -> x509.BasicConstraints:
    if not profile.basic_constraints_ca:
        return x509.BasicConstraints(ca=False, path_length=None)
    path = profile.path_length
    if ca is not None:
        path = child_path_length(ca, path, field="pathLength")
    return x509.BasicConstraints(ca=True, path_length=path)


@dataclass(frozen=True)
class _Draft:
    """What every issued certificate is built from."""

    subject: Subject
    sans: SubjectAltNames
    public_key: PublicKey
    algorithm: KeyAlgorithm
    serial: int
    validity: tuple[datetime, datetime]


def _builder(
    profile: Profile, draft: _Draft, issuer: x509.Name, aki: x509.AuthorityKeyIdentifier
) -> x509.CertificateBuilder:
    name = draft.subject.to_x509_name()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer)
        .public_key(draft.public_key)
        .serial_number(draft.serial)
        .not_valid_before(draft.validity[0])
        .not_valid_after(draft.validity[1])
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(draft.public_key), critical=False)
        .add_extension(aki, critical=False)
    )
    key_usage = _key_usage(profile, draft.algorithm)
    if key_usage is not None:
        builder = builder.add_extension(key_usage, critical=True)  # RFC 5280 §4.2.1.3: SHOULD be critical
    if profile.extended_key_usages:
        usages = [oid for usage, oid in _EKU_OIDS.items() if usage in profile.extended_key_usages]
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    if draft.sans:
        # RFC 5280 §4.2.1.6: the SAN extension MUST be critical when the subject is empty.
        builder = builder.add_extension(
            x509.SubjectAlternativeName(draft.sans.to_x509()), critical=not name.rdns
        )
    return builder


def issue(
    ca: CertificateAuthority,
    profile: Profile,
    request: CertificateRequest | CheckedRequest,
    *,
    serial: int,
    now: datetime,
    ttl: timedelta | None = None,
    not_before: datetime | None = None,
    private_key: PrivateKey | None = None,
) -> IssuedCertificate:
    """Sign `request` with `ca` as `profile` describes (a plain request is checked first, a checked
    one is not checked again). `private_key` (managed issuance: the caller generated it) is checked
    against the request and kept in the result."""
    ca.check_enabled()
    if profile.issuer_type is not IssuerType.CA or profile.ca_id != ca.id:
        raise InvalidSetting("profile", f"profile {profile.name!r} does not issue from CA {ca.name}")
    checked = _checked(profile, request)
    plain = checked.request
    _check_private_key(private_key, plain.public_key)
    validity = validity_window(
        not_before or now, profile.resolve_ttl(ttl), ca.certificate.not_valid_after_utc
    )
    draft = _Draft(plain.subject, plain.sans, plain.public_key, checked.algorithm, serial, validity)
    builder = _builder(profile, draft, ca.certificate.subject, ca.authority_key_identifier())
    builder = builder.add_extension(_basic_constraints(profile, ca), critical=True)
    partition = ca.settings.crl_partition_of(serial)
    for extension in distribution_extensions(ca.settings, partition=partition):
        builder = builder.add_extension(extension, critical=False)
    certificate = ca.signer.sign_certificate(builder)
    return IssuedCertificate(certificate, (ca.certificate, *ca.chain), private_key, partition)


def issue_self_signed(
    profile: Profile,
    request: CertificateRequest | CheckedRequest,
    private_key: PrivateKey,
    *,
    serial: int,
    now: datetime,
    ttl: timedelta | None = None,
) -> IssuedCertificate:
    """A certificate signed by its own key (`request`'s public key is its half), for a self-signed
    profile; the key is kept in the result."""
    if profile.issuer_type is not IssuerType.SELF_SIGNED:
        raise InvalidSetting("profile", f"profile {profile.name!r} is not a self-signed profile")
    checked = _checked(profile, request)
    subject, sans, public_key = checked.request.subject, checked.request.sans, checked.request.public_key
    _check_private_key(private_key, public_key)
    if not subject.attributes():  # RFC 5280 §4.1.2.4: the issuer (here: the subject) is never empty
        raise InvalidSetting("subject", "a self-signed certificate needs a subject; it is also the issuer")
    draft = _Draft(
        subject,
        sans,
        public_key,
        checked.algorithm,
        serial,
        validity_window(now, profile.resolve_ttl(ttl), None),
    )
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key)
    builder = _builder(profile, draft, subject.to_x509_name(), aki)
    builder = builder.add_extension(_basic_constraints(profile, None), critical=True)
    certificate = SoftwareSigner(private_key).sign_certificate(builder)
    return IssuedCertificate(certificate, (), private_key)
