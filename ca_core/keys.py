"""Key generation, loading and the weak-key check (Boulder goodkey). Algorithms are named as the
REST API names them (RSA_2048, EC_prime256v1, ...)."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from ca_core.errors import BadPublicKey

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


class KeyAlgorithm(StrEnum):
    RSA_2048 = "RSA_2048"
    RSA_3072 = "RSA_3072"
    RSA_4096 = "RSA_4096"
    EC_prime256v1 = "EC_prime256v1"
    EC_secp384r1 = "EC_secp384r1"
    ED25519 = "ED25519"


_RSA_SIZES: Final = {2048: KeyAlgorithm.RSA_2048, 3072: KeyAlgorithm.RSA_3072, 4096: KeyAlgorithm.RSA_4096}
_EC_CURVES: Final = {"secp256r1": KeyAlgorithm.EC_prime256v1, "secp384r1": KeyAlgorithm.EC_secp384r1}
_CURVE_OF: Final[dict[KeyAlgorithm, ec.EllipticCurve]] = {
    KeyAlgorithm.EC_prime256v1: ec.SECP256R1(),
    KeyAlgorithm.EC_secp384r1: ec.SECP384R1(),
}
# Only F4: tiny exponents (3) invite padding attacks, and every CA/B Forum profile expects 65537.
_RSA_EXPONENT: Final = 65537
_PRIVATE_TYPES: Final = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)
_PUBLIC_TYPES: Final = (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey)
_SUPPORTED: Final = "use RSA 2048/3072/4096, EC P-256/P-384 or Ed25519"


def generate_key(algorithm: KeyAlgorithm) -> PrivateKey:
    """A fresh private key of `algorithm` (RSA keys take a noticeable moment: run off the event loop)."""
    algorithm = KeyAlgorithm(algorithm)
    if algorithm is KeyAlgorithm.ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm in _CURVE_OF:
        return ec.generate_private_key(_CURVE_OF[algorithm])
    size = next(bits for bits, name in _RSA_SIZES.items() if name is algorithm)
    return rsa.generate_private_key(public_exponent=_RSA_EXPONENT, key_size=size)


def _key_type_name(public_key: object) -> str:
    return type(public_key).__name__.removeprefix("_").replace("PublicKey", "").replace("PrivateKey", "")


def check_key(public_key: PublicKey) -> KeyAlgorithm:
    """The key's algorithm, or BadPublicKey with a one-line reason when it is weak or unsupported.

    Annotated with the supported types so callers keep precise types; at run time any key object is
    checked (DSA, X25519, Ed448, ... are refused)."""
    return _algorithm_of(public_key)


def _algorithm_of(key: object) -> KeyAlgorithm:
    if isinstance(key, rsa.RSAPublicKey):
        return _check_rsa(key)
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _EC_CURVES:
            raise BadPublicKey(f"EC curve {key.curve.name} is not supported; use P-256 or P-384")
        return _EC_CURVES[key.curve.name]
    if isinstance(key, ed25519.Ed25519PublicKey):
        return KeyAlgorithm.ED25519
    raise BadPublicKey(f"{_key_type_name(key)} keys are not supported; {_SUPPORTED}")


def _check_rsa(key: rsa.RSAPublicKey) -> KeyAlgorithm:
    if key.key_size not in _RSA_SIZES:
        raise BadPublicKey(f"RSA keys must be 2048, 3072 or 4096 bits, got {key.key_size}")
    exponent = key.public_numbers().e
    if exponent != _RSA_EXPONENT:
        raise BadPublicKey(f"RSA public exponent must be 65537, got {exponent}")
    return _RSA_SIZES[key.key_size]


key_algorithm_of = check_key


def checked_public_key(public_key: object) -> PublicKey:
    """`public_key` narrowed to the supported types after check_key (for keys read from a CSR or
    certificate, whose static type also admits DSA, X448, ...)."""
    _algorithm_of(public_key)
    if not isinstance(public_key, _PUBLIC_TYPES):  # pragma: no cover - _algorithm_of refused it already
        raise BadPublicKey(f"{_key_type_name(public_key)} keys are not supported; {_SUPPORTED}")
    return public_key


def load_private_key(data: bytes, password: bytes | None = None) -> PrivateKey:
    """A PEM or DER private key (PKCS#8, PKCS#1 or SEC1), checked like any public key."""
    loader = (
        serialization.load_pem_private_key if b"-----BEGIN " in data else serialization.load_der_private_key
    )
    try:
        key: object = loader(data, password=password)
    except TypeError as exc:  # password missing, or given for an unencrypted key
        raise BadPublicKey(f"cannot load the private key: {exc}") from None
    except (ValueError, UnsupportedAlgorithm):
        raise BadPublicKey("not a PEM or DER private key, or the password is wrong") from None
    if not isinstance(key, _PRIVATE_TYPES):
        raise BadPublicKey(f"{_key_type_name(key)} keys are not supported; {_SUPPORTED}")
    check_key(key.public_key())
    return key


def private_key_pem(key: PrivateKey, password: bytes | None = None) -> bytes:
    """PKCS#8 PEM, encrypted with the best available scheme when a password is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def public_key_pem(key: PrivateKey | PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM of a public key, or of a private key's public half."""
    public = key.public_key() if isinstance(key, _PRIVATE_TYPES) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_der(key: PublicKeyTypes) -> bytes:
    """SubjectPublicKeyInfo DER: the canonical bytes for comparing two public keys."""
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
