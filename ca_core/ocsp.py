"""OCSP (RFC 6960): parse a request, match its CertID to a CA, sign a response (good, revoked with time
and reason, or unknown) with the CA key or a delegated responder certificate, and build that
responder certificate (id-kp-OCSPSigning + id-pkix-ocsp-nocheck)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ca_core.authority import CertificateAuthority, as_utc, common_name_of
from ca_core.errors import CAError
from ca_core.keys import PublicKey, check_key
from ca_core.revocation import RevocationReason
from ca_core.serials import MAX_SERIAL
from ca_core.signer import Signer

# RFC 6960 §4.1.1 CertID hashes we answer for: SHA-1 (what RFC 5019 clients, openssl's default, send)
# and SHA-256 (what newer clients send). Anything else is not "ours" to match.
_HASHES: Final[dict[str, type[hashes.HashAlgorithm]]] = {"sha1": hashes.SHA1, "sha256": hashes.SHA256}
MAX_REQUEST_SIZE: Final = 8192  # a one-CertID request is ~100 bytes; nonces and signatures add a little
MAX_NONCE_SIZE: Final = 32  # RFC 8954 §2.1: responders need not echo longer nonces


class MalformedOCSPRequest(CAError):
    """The bytes are not an OCSP request we can answer (RFC 6960 §2.3 malformedRequest)."""


class CertStatus(StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class CertID:
    """RFC 6960 §4.1.1: which issuer (hashes of its name and key) and which serial a request asks about."""

    hash_name: str  # 'sha1' | 'sha256'
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial: int

    def matches(self, issuer: x509.Certificate) -> bool:
        """Whether `issuer` is the CA this CertID names (its subject and public key hash alike)."""
        name_hash, key_hash = issuer_hashes(issuer, self.hash_name)
        return name_hash == self.issuer_name_hash and key_hash == self.issuer_key_hash


@dataclass(frozen=True)
class OCSPQuery:
    """One parsed request: the CertID and the nonce to echo (RFC 8954), if any."""

    cert_id: CertID
    nonce: x509.OCSPNonce | None


@dataclass(frozen=True)
class StatusAnswer:
    """What the responder knows about one serial."""

    status: CertStatus
    revoked_at: datetime | None = None
    reason: RevocationReason | None = None


@dataclass(frozen=True)
class Responder:
    """Who signs responses for a CA: the CA itself (certificate None) or a delegated responder whose
    certificate the CA signed (RFC 6960 §4.2.2.2) and which travels in the response."""

    signer: Signer
    certificate: x509.Certificate


def issuer_hashes(issuer: x509.Certificate, hash_name: str) -> tuple[bytes, bytes]:
    """(issuerNameHash, issuerKeyHash) of RFC 6960 §4.1.1: the hash of the issuer's DER subject and of
    the BIT STRING of its public key (without tag and length)."""
    digest = hashlib.new(hash_name)
    digest.update(issuer.subject.public_bytes())
    key_bits = _subject_public_key_bits(issuer.public_key())  # type: ignore[arg-type]
    return digest.digest(), hashlib.new(hash_name, key_bits).digest()


def _der_item(data: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, start of contents, end of contents) of the DER item at `offset`."""
    tag, length = data[offset], data[offset + 1]
    offset += 2
    if length & 0x80:
        size = length & 0x7F
        length = int.from_bytes(data[offset : offset + size], "big")
        offset += size
    return tag, offset, offset + length


def _subject_public_key_bits(public_key: PublicKey) -> bytes:
    """The subjectPublicKey BIT STRING contents, without the unused-bits octet (what the key hash
    covers): SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT
    STRING } (RFC 5280 §4.1)."""
    spki = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    _, contents, _ = _der_item(spki, 0)
    _, _, algorithm_end = _der_item(spki, contents)
    tag, bits_start, bits_end = _der_item(spki, algorithm_end)
    assert tag == 0x03, "subjectPublicKey is a BIT STRING"
    return spki[bits_start + 1 : bits_end]


def decode_get_path(path: str) -> bytes:
    """RFC 6960 Appendix A.1: GET {url}/{url-encoding of base64 encoding of the DER request}. Accepts
    the standard and the URL-safe alphabet, padded or not, percent-encoded or not."""
    text = unquote(path)  # not stripped of "/": base64 may end in one
    text = text.replace("-", "+").replace("_", "/").replace(" ", "+")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedOCSPRequest("the GET path is not the base64 of an OCSP request") from None


def parse_request(der: bytes) -> OCSPQuery:
    """The CertID and nonce of a DER OCSPRequest with exactly one request."""
    if not der or len(der) > MAX_REQUEST_SIZE:
        raise MalformedOCSPRequest(f"an OCSP request is 1 to {MAX_REQUEST_SIZE} bytes of DER")
    try:
        request = ocsp.load_der_ocsp_request(der)
        algorithm = request.hash_algorithm
        cert_id = CertID(
            algorithm.name,
            request.issuer_name_hash,
            request.issuer_key_hash,
            request.serial_number,
        )
        nonce = _nonce(request)
    except (ValueError, NotImplementedError, x509.UnsupportedGeneralNameType) as exc:
        raise MalformedOCSPRequest(f"not an OCSP request with one CertID: {exc}") from None
    except x509.DuplicateExtension:
        raise MalformedOCSPRequest("the OCSP request repeats an extension") from None
    if cert_id.hash_name not in _HASHES:
        raise MalformedOCSPRequest(f"CertID hash {cert_id.hash_name} is not SHA-1 or SHA-256")
    if not 0 < cert_id.serial <= MAX_SERIAL:
        raise MalformedOCSPRequest("the CertID serial is not a positive number of at most 20 octets")
    return OCSPQuery(cert_id, nonce)


def _nonce(request: ocsp.OCSPRequest) -> x509.OCSPNonce | None:
    try:
        nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value
    except x509.ExtensionNotFound:
        return None
    return nonce if 0 < len(nonce.nonce) <= MAX_NONCE_SIZE else None


def build_response(
    ca: CertificateAuthority,
    query: OCSPQuery,
    answer: StatusAnswer,
    *,
    this_update: datetime,
    next_update: datetime,
    responder: Responder | None = None,
) -> bytes:
    """A signed, successful BasicOCSPResponse (DER) for the query's CertID, echoing its hash algorithm
    and nonce. Signed by `responder` when given, else by the CA key (RFC 6960 §4.2.2.2)."""
    cert_id = query.cert_id
    revoked = answer.status is CertStatus.REVOKED
    builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
        issuer_name_hash=cert_id.issuer_name_hash,
        issuer_key_hash=cert_id.issuer_key_hash,
        serial_number=cert_id.serial,
        algorithm=_HASHES[cert_id.hash_name](),
        cert_status=_STATUSES[answer.status],
        this_update=as_utc(this_update),
        next_update=as_utc(next_update),
        revocation_time=as_utc(answer.revoked_at) if revoked and answer.revoked_at else None,
        revocation_reason=_reason(answer) if revoked else None,
    )
    if revoked and answer.revoked_at is None:
        raise ValueError("a revoked answer needs its revocation time")
    signer, signing_certificate = (
        (ca.signer, ca.certificate) if responder is None else (responder.signer, responder.certificate)
    )
    # RFC 6960 §4.2.1 ResponderID byKey: the SHA-1 of the signing key, as RFC 5019 §2.2.3 prefers.
    builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, signing_certificate)
    if responder is not None:
        builder = builder.certificates([responder.certificate])  # §4.2.2.2: the client needs it
    if query.nonce is not None:
        builder = builder.add_extension(query.nonce, critical=False)
    return signer.sign_ocsp_response(builder).public_bytes(Encoding.DER)


def _reason(answer: StatusAnswer) -> x509.ReasonFlags | None:
    # RFC 5280 §5.3.1 as for CRLs: "unspecified" is expressed by leaving the reason out.
    if answer.reason is None or answer.reason is RevocationReason.UNSPECIFIED:
        return None
    return answer.reason.to_x509()


_STATUSES: Final = {
    CertStatus.GOOD: ocsp.OCSPCertStatus.GOOD,
    CertStatus.REVOKED: ocsp.OCSPCertStatus.REVOKED,
    CertStatus.UNKNOWN: ocsp.OCSPCertStatus.UNKNOWN,
}


class ErrorStatus(StrEnum):
    MALFORMED_REQUEST = "malformedRequest"
    INTERNAL_ERROR = "internalError"
    TRY_LATER = "tryLater"
    UNAUTHORIZED = "unauthorized"


def error_response(status: ErrorStatus) -> bytes:
    """An unsuccessful OCSPResponse (RFC 6960 §4.2.1): no body, not signed."""
    built = ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus[_ERROR_NAMES[status]])
    return built.public_bytes(Encoding.DER)


_ERROR_NAMES: Final = {
    ErrorStatus.MALFORMED_REQUEST: "MALFORMED_REQUEST",
    ErrorStatus.INTERNAL_ERROR: "INTERNAL_ERROR",
    ErrorStatus.TRY_LATER: "TRY_LATER",
    ErrorStatus.UNAUTHORIZED: "UNAUTHORIZED",
}


def create_responder_certificate(
    ca: CertificateAuthority,
    public_key: PublicKey,
    *,
    now: datetime,
    validity: timedelta,
    serial: int,
) -> x509.Certificate:
    """A delegated OCSP signing certificate for `public_key` (RFC 6960 §4.2.2.2): issued directly by
    `ca`, extended key usage id-kp-OCSPSigning only, and id-pkix-ocsp-nocheck (§4.2.2.2.1) so that
    clients do not ask about the responder's own status. Short-lived, since it cannot be revoked."""
    ca.check_enabled()
    check_key(public_key)
    start = as_utc(now)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"OCSP responder for {common_name_of(ca.certificate)}"),
        ]
    )
    end = min(start + validity, ca.certificate.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca.certificate.subject)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .add_extension(x509.OCSPNoCheck(), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(ca.authority_key_identifier(), critical=False)
    )
    return ca.signer.sign_certificate(builder)
