"""The signing seam: a Signer turns cryptography builders into signed objects (as step-ca cas/apiv1).
SoftwareSigner holds the key in memory; ca_core.tokens.TokenSigner signs in an HSM. Both hand the
builder a private-key object of cryptography's own interfaces: the builders call its sign() with the
to-be-signed bytes, so every object is assembled by cryptography whichever way the key signs."""

from __future__ import annotations

from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509 import ocsp

from ca_core.keys import PrivateKey, PublicKey


class Signer(Protocol):
    """Signs certificates, CRLs, CSRs and OCSP responses with one CA key it never has to reveal."""

    @property
    def public_key(self) -> PublicKey: ...

    def sign_certificate(self, builder: x509.CertificateBuilder) -> x509.Certificate: ...

    def sign_crl(self, builder: x509.CertificateRevocationListBuilder) -> x509.CertificateRevocationList: ...

    def sign_csr(self, builder: x509.CertificateSigningRequestBuilder) -> x509.CertificateSigningRequest: ...

    def sign_ocsp_response(self, builder: ocsp.OCSPResponseBuilder) -> ocsp.OCSPResponse: ...


def signature_hash(key: PrivateKey | PublicKey) -> hashes.SHA256 | hashes.SHA384 | None:
    """The digest paired with a key: SHA-384 for P-384 (RFC 5480 §4 matches digest to curve strength),
    SHA-256 for RSA and P-256, none for Ed25519 (RFC 8410 §6: the algorithm hashes internally)."""
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) and key.curve.key_size > 256:
        return hashes.SHA384()
    return hashes.SHA256()


class KeySigner:
    """A Signer over one cryptography private-key object (in memory, or one whose sign() goes to a token)."""

    __slots__ = ("_hash", "private_key")

    def __init__(self, private_key: PrivateKey) -> None:
        self.private_key = private_key
        self._hash = signature_hash(private_key)

    @property
    def public_key(self) -> PublicKey:
        return self.private_key.public_key()

    def sign_certificate(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        return builder.sign(self.private_key, self._hash)

    def sign_crl(self, builder: x509.CertificateRevocationListBuilder) -> x509.CertificateRevocationList:
        return builder.sign(self.private_key, self._hash)

    def sign_csr(self, builder: x509.CertificateSigningRequestBuilder) -> x509.CertificateSigningRequest:
        return builder.sign(self.private_key, self._hash)

    def sign_ocsp_response(self, builder: ocsp.OCSPResponseBuilder) -> ocsp.OCSPResponse:
        return builder.sign(self.private_key, self._hash)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.private_key.public_key()).__name__.lstrip('_')})"


class SoftwareSigner(KeySigner):
    """A Signer over an in-memory private key (unsealed from the database by the service layer)."""

    __slots__ = ()
