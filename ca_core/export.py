"""Getting certificates and keys out (and PEM certificates in): PEM bundles and password-protected
PKCS#12 files that OpenSSL and Java keytool both read."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    KeySerializationEncryption,
    PrivateFormat,
    pkcs12,
)

from ca_core.errors import InvalidSetting
from ca_core.keys import PrivateKey, private_key_pem

# PBKDF2 iterations for the PKCS#12 key and MAC; OpenSSL 3 writes 2048, NIST SP 800-132 asks for more.
PKCS12_KDF_ROUNDS: Final = 100_000


def load_certificates_pem(data: bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM text, in order; InvalidSetting when there is none or one is broken."""
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise InvalidSetting("certificate", "no PEM certificate found, or one is malformed") from None


def certificates_pem(certificates: Iterable[x509.Certificate]) -> str:
    return "".join(c.public_bytes(Encoding.PEM).decode() for c in certificates)


@dataclass(frozen=True)
class PemBundle:
    certificate: str
    chain: str  # issuing CA first, up to the root
    private_key: str | None  # unencrypted PKCS#8, only for managed keys

    @property
    def fullchain(self) -> str:
        """What a TLS server loads: the certificate followed by its chain."""
        return self.certificate + self.chain

    @property
    def full_bundle(self) -> str:
        """Certificate, chain and key in one text ("Copy All")."""
        return self.fullchain + (self.private_key or "")


def pem_bundle(
    certificate: x509.Certificate, chain: Sequence[x509.Certificate], private_key: PrivateKey | None = None
) -> PemBundle:
    key = private_key_pem(private_key).decode() if private_key is not None else None
    return PemBundle(certificates_pem([certificate]), certificates_pem(chain), key)


def _encryption(password: str) -> KeySerializationEncryption:
    # PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) with a SHA-256 MAC, not the legacy RC2/3DES-SHA1 default:
    # OpenSSL 3 reads it natively and Java reads it since JDK 12 / 11.0.12 (JDK-8076190), so one
    # file serves both; checked against this machine's keytool (Java 17) by tests/ca_core/test_export.py.
    return (
        PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(PKCS12_KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password.encode())
    )


def to_pkcs12(
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate],
    private_key: PrivateKey | None,
    *,
    password: str,
    alias: str,
) -> bytes:
    """A password-protected PKCS#12 file. With a key: one key entry named `alias` holding the
    certificate and chain. Without: trusted-certificate entries (the leaf named `alias`), written
    with Java's trust attribute, since keytool ignores key-less certificates that lack it."""
    if not password:
        raise InvalidSetting("password", "a PKCS#12 file needs a non-empty password")
    encryption = _encryption(password)
    name = alias.encode() if alias else None
    if private_key is not None:
        return pkcs12.serialize_key_and_certificates(name, private_key, certificate, list(chain), encryption)
    entries = [pkcs12.PKCS12Certificate(certificate, name)]
    entries += [pkcs12.PKCS12Certificate(c, f"{alias}-ca-{i}".encode()) for i, c in enumerate(chain, 1)]
    return pkcs12.serialize_java_truststore(entries, encryption)
