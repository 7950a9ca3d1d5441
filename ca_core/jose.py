"""JWK parsing, RFC 7638 thumbprints and JWS signature checks for the ACME algorithms (ES256/384/512,
RS256, EdDSA). Hand-written over `cryptography` because josepy has no OKP keys or EdDSA (RFC 8037)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ca_core.errors import BadPublicKey, CAError
from ca_core.keys import PublicKey, check_key


class BadSignature(CAError):
    """A JWS signature does not verify, or its algorithm does not fit the key."""


class UnsupportedAlgorithm(CAError):
    """A JWS `alg` we do not accept (RFC 8555 §6.2: badSignatureAlgorithm lists what we do)."""


# alg -> (key type, EC curve name or None, hash, EC signature half-length in bytes)
_ALGORITHMS: Final = {
    "ES256": ("EC", "P-256", hashes.SHA256(), 32),
    "ES384": ("EC", "P-384", hashes.SHA384(), 48),
    "ES512": ("EC", "P-521", hashes.SHA512(), 66),
    "RS256": ("RSA", None, hashes.SHA256(), 0),
    "EdDSA": ("OKP", "Ed25519", None, 0),
}
ALGORITHMS: Final = tuple(_ALGORITHMS)
_CURVES: Final = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}


_B64URL: Final = re.compile(r"[A-Za-z0-9_-]*")
MAX_JSON_DEPTH: Final = 16  # deepest JWS part ACME needs: newOrder's identifiers are 3 levels


def b64decode(text: str) -> bytes:
    """Strict base64url (RFC 7515 §2, RFC 8555 §6.5.1): only A-Z a-z 0-9 - _, no padding, no
    whitespace, and the canonical encoding of its bytes (zero trailing bits). A lenient decoder maps
    many texts to one value, so a used nonce could be re-sent as a "new" text; every base64url field
    (JWS parts, JWK members, CSRs, certificates, ARI ids) goes through this one function."""
    if not isinstance(text, str) or not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise CAError("invalid base64url: only A-Z a-z 0-9 - _ without padding")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise CAError("invalid base64url") from None
    if b64encode(data) != text:  # non-zero trailing bits: a second spelling of the same bytes
        raise CAError("invalid base64url: not the canonical encoding")
    return data


def load_json(raw: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """JSON for every JWS part (protected header, payload, inner EAB and keyChange JWS): parsed by
    orjson, which refuses more than 1024 levels without recursing in Python, then refused beyond
    `max_depth` levels so no later code (stdlib json, repr, our walkers) can recurse deeply."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise CAError("invalid JSON") from None
    if _depth(value) > max_depth:
        raise CAError(f"JSON nested deeper than {max_depth} levels")
    return value


def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class JWK:
    """A parsed public JWK: the key, its canonical members and RFC 7638 thumbprint."""

    key: PublicKey | ec.EllipticCurvePublicKey
    members: Mapping[str, str]  # the required members only, what the thumbprint hashes

    @property
    def thumbprint(self) -> str:
        canonical = json.dumps(dict(sorted(self.members.items())), separators=(",", ":"))
        return b64encode(hashlib.sha256(canonical.encode()).digest())

    def to_json(self) -> dict[str, str]:
        return dict(self.members)


def _member(jwk: Mapping[str, Any], name: str) -> str:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise BadPublicKey(f"JWK member {name!r} is missing")
    return value


def _rsa_key(jwk: Mapping[str, Any]) -> tuple[dict[str, str], Any]:
    members = {"kty": "RSA", "n": _member(jwk, "n"), "e": _member(jwk, "e")}
    e = int.from_bytes(b64decode(members["e"]), "big")
    n = int.from_bytes(b64decode(members["n"]), "big")
    return members, rsa.RSAPublicNumbers(e, n).public_key()


def _ec_key(jwk: Mapping[str, Any]) -> tuple[dict[str, str], Any]:
    members = {"kty": "EC", "crv": _member(jwk, "crv"), "x": _member(jwk, "x"), "y": _member(jwk, "y")}
    curve = _CURVES.get(members["crv"])
    if curve is None:
        raise BadPublicKey(f"unsupported JWK curve {members['crv']!r}")
    x = int.from_bytes(b64decode(members["x"]), "big")
    y = int.from_bytes(b64decode(members["y"]), "big")
    return members, ec.EllipticCurvePublicNumbers(x, y, curve).public_key()


def _okp_key(jwk: Mapping[str, Any]) -> tuple[dict[str, str], Any]:
    members = {"kty": "OKP", "crv": _member(jwk, "crv"), "x": _member(jwk, "x")}
    if members["crv"] != "Ed25519":  # RFC 8037: Ed448 exists, but ACME clients use Ed25519
        raise BadPublicKey(f"unsupported JWK curve {members['crv']!r}")
    return members, ed25519.Ed25519PublicKey.from_public_bytes(b64decode(members["x"]))


_KEY_TYPES: Final = {"RSA": _rsa_key, "EC": _ec_key, "OKP": _okp_key}


def parse_jwk(jwk: Any) -> JWK:
    """A public JWK as RFC 7517/7518/8037 define it; private members are refused."""
    if not isinstance(jwk, Mapping):
        raise BadPublicKey("the JWK is not an object")
    if "d" in jwk:
        raise BadPublicKey("the JWK contains a private key")
    kty = jwk.get("kty")
    build = _KEY_TYPES.get(kty) if isinstance(kty, str) else None  # a JSON list or object is unhashable
    if build is None:
        raise BadPublicKey(f"unsupported JWK key type {kty!r}")
    try:
        members, key = build(jwk)
    except BadPublicKey:
        raise
    except (CAError, ValueError) as exc:
        raise BadPublicKey(f"invalid JWK: {exc}") from None
    if not (isinstance(key, ec.EllipticCurvePublicKey) and members.get("crv") == "P-521"):
        check_key(key)  # P-521 is fine for an account key (ES512) though not for certificates
    return JWK(key=key, members=members)


def jwk_of(key: PublicKey) -> JWK:
    """The JWK of a public key (for tests, tools and key comparison)."""
    if isinstance(key, rsa.RSAPublicKey):
        n = key.public_numbers()
        return parse_jwk({"kty": "RSA", "n": b64encode(_int_bytes(n.n)), "e": b64encode(_int_bytes(n.e))})
    if isinstance(key, ec.EllipticCurvePublicKey):
        size = (key.curve.key_size + 7) // 8
        crv = {256: "P-256", 384: "P-384", 521: "P-521"}[key.curve.key_size]
        p = key.public_numbers()
        return parse_jwk(
            {
                "kty": "EC",
                "crv": crv,
                "x": b64encode(p.x.to_bytes(size, "big")),
                "y": b64encode(p.y.to_bytes(size, "big")),
            }
        )
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return parse_jwk(
        {"kty": "OKP", "crv": "Ed25519", "x": b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw))}
    )


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")


def check_algorithm(alg: Any, jwk: JWK) -> None:
    """The alg must be one we accept and fit the key (RFC 8555 §6.2; RFC 7518 §3.4 curve per alg)."""
    if not isinstance(alg, str) or alg not in _ALGORITHMS:  # a JSON list or object is unhashable
        raise UnsupportedAlgorithm(f"algorithm {alg!r} is not supported; use one of {', '.join(ALGORITHMS)}")
    kty, curve, _, _ = _ALGORITHMS[alg]
    if jwk.members["kty"] != kty or (curve is not None and jwk.members.get("crv") != curve):
        raise UnsupportedAlgorithm(f"algorithm {alg} does not fit a {jwk.members['kty']} key")


def verify_signature(alg: str, jwk: JWK, signing_input: bytes, signature: bytes) -> None:
    """Raise BadSignature unless `signature` is `jwk`'s `alg` signature over `signing_input`."""
    check_algorithm(alg, jwk)
    _, _, digest, half = _ALGORITHMS[alg]
    key = jwk.key
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            assert digest is not None
            if len(signature) != 2 * half:  # RFC 7518 §3.4: R || S, fixed length
                raise BadSignature("the ECDSA signature has the wrong length")
            der = encode_dss_signature(
                int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
            )
            key.verify(der, signing_input, ec.ECDSA(digest))
        elif isinstance(key, rsa.RSAPublicKey):
            assert digest is not None
            key.verify(signature, signing_input, padding.PKCS1v15(), digest)
        else:
            key.verify(signature, signing_input)
    except InvalidSignature:
        raise BadSignature("the JWS signature does not verify") from None


def verify_hs256(secret: bytes, signing_input: bytes, signature: bytes) -> None:
    """External account binding MAC (RFC 8555 §7.3.4, HS256)."""
    expected = hmac.new(secret, signing_input, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise BadSignature("the external account binding MAC does not verify")
