"""PKCS#10 certificate requests (RFC 2986): parse and verify one into a CertificateRequest value, or
build one (for tests and tools)."""

from __future__ import annotations

from typing import Final

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from ca_core.errors import BadCSR, BadPublicKey, InvalidSetting
from ca_core.keys import PrivateKey, checked_public_key
from ca_core.request import CertificateRequest, IPAddress, Subject, SubjectAltNames
from ca_core.signer import SoftwareSigner
from ca_core.subject import check_attributes

# RFC 5280 §4.2.1.6 GeneralName choices we do not issue, by their ASN.1 names.
_UNSUPPORTED_NAMES: Final = {
    x509.OtherName: "otherName",
    x509.DirectoryName: "directoryName",
    x509.RegisteredID: "registeredID",
}


def _load(data: bytes, *, der_only: bool) -> x509.CertificateSigningRequest:
    if der_only:
        try:
            return x509.load_der_x509_csr(data)
        except ValueError:
            raise BadCSR("not a DER PKCS#10 certificate request") from None
    try:
        if b"-----BEGIN " in data:
            return x509.load_pem_x509_csr(data)
        return x509.load_der_x509_csr(data)
    except ValueError:
        raise BadCSR("not a PEM or DER PKCS#10 certificate request") from None


def _requested_names(csr: x509.CertificateSigningRequest) -> list[x509.GeneralName]:
    """The SANs of the PKCS#9 extensionRequest attribute (RFC 2985 §5.4.2), if any."""
    try:
        return list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return []
    except ValueError as exc:  # a duplicate or malformed extension in the request
        raise BadCSR(f"CSR extensions are malformed: {exc}") from None


def _sans(names: list[x509.GeneralName]) -> SubjectAltNames:
    dns: list[str] = []
    ips: list[IPAddress] = []
    emails: list[str] = []
    uris: list[str] = []
    for name in names:
        if isinstance(name, x509.DNSName):
            dns.append(name.value)
        elif isinstance(name, x509.IPAddress) and isinstance(name.value, IPAddress):
            ips.append(name.value)
        elif isinstance(name, x509.RFC822Name):
            emails.append(name.value)
        elif isinstance(name, x509.UniformResourceIdentifier):
            uris.append(name.value)
        else:
            kind = _UNSUPPORTED_NAMES.get(type(name), "iPAddress network")
            raise BadCSR(
                f"CSR asks for a {kind} subject alternative name; only DNS, IP, email and URI are issued"
            )
    return SubjectAltNames(dns=tuple(dns), ip=tuple(ips), email=tuple(emails), uri=tuple(uris))


def parse_csr(data: bytes, *, der_only: bool = False) -> CertificateRequest:
    """A verified request: BadCSR when unparsable or badly signed, BadPublicKey when its key is weak.
    PEM or DER; `der_only` where the protocol says DER (RFC 8555 §7.4 finalize)."""
    csr = _load(data, der_only=der_only)
    try:
        public_key = csr.public_key()
        signature_ok = csr.is_signature_valid
    except UnsupportedAlgorithm as exc:
        raise BadPublicKey(f"CSR key or signature algorithm is not supported: {exc}") from None
    except ValueError as exc:  # e.g. an EC point not on its curve: the CSR is broken, not its key type
        raise BadCSR(f"CSR public key is malformed: {exc}") from None
    # RFC 2986 §3: the signature proves possession of the private key; without it anyone could ask for
    # a certificate on someone else's public key.
    if not signature_ok:
        raise BadCSR("CSR signature does not verify")
    key = checked_public_key(public_key)
    try:
        subject = Subject.from_x509_name(csr.subject)
    except ValueError as exc:
        raise BadCSR(f"CSR subject is malformed: {exc}") from None
    try:  # RFC 8555 §7.4: a subject we could not sign is the CSR's fault (badCSR), found before issuance
        check_attributes(subject.attributes())
    except InvalidSetting as exc:
        raise BadCSR(f"CSR {exc.detail}") from None
    return CertificateRequest(subject=subject, sans=_sans(_requested_names(csr)), public_key=key)


def build_csr(subject: Subject, sans: SubjectAltNames, key: PrivateKey) -> x509.CertificateSigningRequest:
    """A CSR for `subject` and `sans`, signed by `key` (SHA-256, SHA-384 for P-384, none for Ed25519)."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject.to_x509_name())
    if sans:
        # RFC 5280 §4.2.1.6: critical when the subject is empty.
        builder = builder.add_extension(
            x509.SubjectAlternativeName(sans.to_x509()), critical=not subject.attributes()
        )
    return SoftwareSigner(key).sign_csr(builder)
