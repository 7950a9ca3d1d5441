"""CA keys that live in a token (an HSM over PKCS#11): private-key objects of cryptography's own
interfaces whose sign() hands a digest to the token, so the builders assemble every certificate, CRL,
CSR and OCSP response themselves and the key never leaves the token. Pure: the token is a narrow
Protocol (the PKCS#11 binding lives in acme_server/hsm/)."""

from __future__ import annotations

from enum import StrEnum
from typing import Final, NoReturn, Protocol, Self

from cryptography import utils as cryptography_utils
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from ca_core.errors import KeyProtectionError
from ca_core.signer import KeySigner


class TokenError(KeyProtectionError):
    """The token refused or failed an operation, or answered something that is not a signature: a
    server fault (HTTP 500, ACME serverInternal), never the client's."""


class Mechanism(StrEnum):
    """The PKCS#11 mechanisms we sign with (PKCS#11 Current Mechanisms v2.40, "ECDSA without hashing"
    and "PKCS #1 v1.5 RSA"): both over a digest computed here, so a CRL of a million entries crosses
    to the token as 32-48 bytes."""

    ECDSA = "CKM_ECDSA"  # input: the digest; output: r || s, each the size of the group order
    RSA_PKCS = "CKM_RSA_PKCS"  # input: DER DigestInfo; output: the PKCS#1 v1.5 signature


class TokenSession(Protocol):
    """What a signer needs from a token: one signature over `data` with the CA's private key."""

    def sign(self, data: bytes, mechanism: Mechanism) -> bytes: ...


# RFC 8017 §9.2 note 1: the DER prefix of DigestInfo{AlgorithmIdentifier{hash, NULL}, OCTET STRING}.
_DIGEST_INFO_PREFIX: Final[dict[str, bytes]] = {
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}


def digest_info(algorithm: hashes.HashAlgorithm, digest: bytes) -> bytes:
    """The DigestInfo an RSA PKCS#1 v1.5 signature covers (RFC 8017 §9.2 step 2)."""
    prefix = _DIGEST_INFO_PREFIX.get(algorithm.name)
    if prefix is None or len(digest) != algorithm.digest_size:
        raise TokenError(
            f"cannot sign a {algorithm.name} digest of {len(digest)} bytes with an RSA token key"
        )
    return prefix + digest


def _digest(data: cryptography_utils.Buffer, algorithm: object) -> tuple[hashes.HashAlgorithm, bytes]:
    """The digest the token signs. The builders pass the hash itself; a caller's own prehashed input
    is refused rather than trusted (nothing of ours signs that way)."""
    if not isinstance(algorithm, hashes.HashAlgorithm):
        raise TokenError(f"a token key hashes what it signs itself; got {type(algorithm).__name__}")
    hasher = hashes.Hash(algorithm)
    hasher.update(bytes(data))
    return algorithm, hasher.finalize()


def ecdsa_der(raw: bytes, curve: ec.EllipticCurve) -> bytes:
    """A PKCS#11 ECDSA signature (r || s, PKCS#11 Current Mechanisms v2.40 "EC signatures") as the DER
    Ecdsa-Sig-Value X.509 carries (RFC 3279 §2.2.3, RFC 5758 §3.2)."""
    size = (curve.key_size + 7) // 8
    if len(raw) != 2 * size:
        raise TokenError(
            f"the token returned a {len(raw)}-byte ECDSA signature; {curve.name} needs {2 * size}"
        )
    r, s = int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big")
    return utils.encode_dss_signature(r, s)


def _no_export() -> NoReturn:
    raise TokenError("the private key lives in the token and cannot be exported")


class _InToken:
    """What the two token key classes share: nothing to serialise, and no state to copy."""

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        format: serialization.PrivateFormat,
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> bytes:
        _no_export()

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Self:
        return self


class TokenECKey(_InToken, ec.EllipticCurvePrivateKey):
    """An EC private key in a token: sign() hashes here and has the token sign the digest."""

    def __init__(self, session: TokenSession, public_key: ec.EllipticCurvePublicKey) -> None:
        self._session = session
        self._public_key = public_key

    def sign(
        self, data: cryptography_utils.Buffer, signature_algorithm: ec.EllipticCurveSignatureAlgorithm
    ) -> bytes:
        if not isinstance(signature_algorithm, ec.ECDSA):
            raise TokenError("a token EC key signs with ECDSA only")
        _, digest = _digest(data, signature_algorithm.algorithm)
        return ecdsa_der(self._session.sign(digest, Mechanism.ECDSA), self.curve)

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public_key

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public_key.curve

    @property
    def key_size(self) -> int:
        return self._public_key.key_size

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        raise TokenError("a CA key in a token signs; it does not do key agreement")

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        _no_export()


class TokenRSAKey(_InToken, rsa.RSAPrivateKey):
    """An RSA private key in a token: PKCS#1 v1.5 over a DigestInfo built here (the padding every
    certificate, CRL and OCSP response of ours uses)."""

    def __init__(self, session: TokenSession, public_key: rsa.RSAPublicKey) -> None:
        self._session = session
        self._public_key = public_key

    def sign(
        self,
        data: bytes,
        padding: padding.AsymmetricPadding,
        algorithm: hashes.HashAlgorithm | utils.Prehashed | utils.NoDigestInfo,
    ) -> bytes:
        if not isinstance(padding, _PKCS1v15):
            raise TokenError(f"a token RSA key signs with PKCS#1 v1.5 only, not {padding.name}")
        hash_algorithm, digest = _digest(data, algorithm)
        signature = self._session.sign(digest_info(hash_algorithm, digest), Mechanism.RSA_PKCS)
        if len(signature) != (self.key_size + 7) // 8:
            raise TokenError(
                f"the token returned a {len(signature)}-byte RSA signature for a {self.key_size}-bit key"
            )
        return signature

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public_key

    @property
    def key_size(self) -> int:
        return self._public_key.key_size

    def decrypt(self, ciphertext: bytes, padding: padding.AsymmetricPadding) -> bytes:
        raise TokenError("a CA key in a token signs; it does not decrypt")

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        _no_export()


_PKCS1v15 = padding.PKCS1v15


def token_key(session: TokenSession, public_key: PublicKeyTypes) -> TokenECKey | TokenRSAKey:
    """The private-key object for the token key whose public half is `public_key`."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return TokenECKey(session, public_key)
    if isinstance(public_key, rsa.RSAPublicKey):
        return TokenRSAKey(session, public_key)
    raise TokenError(
        f"{type(public_key).__name__.lstrip('_')} keys in a token are not supported; use EC or RSA"
    )


class TokenSigner(KeySigner):
    """A Signer whose key lives in a token (ca_core.signer.Signer, as SoftwareSigner for keys in memory)."""

    __slots__ = ()

    def __init__(self, session: TokenSession, public_key: PublicKeyTypes) -> None:
        super().__init__(token_key(session, public_key))
