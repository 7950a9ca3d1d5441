"""A deliberately small ACME client for protocol tests: it signs exactly what a test asks for, so a
test can also send what a well-behaved client never would (wrong url, replayed nonce, bad alg)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding

from ca_core.jose import b64encode, jwk_of
from ca_core.keys import KeyAlgorithm, PrivateKey, generate_key

ALG = {
    KeyAlgorithm.EC_prime256v1: "ES256",
    KeyAlgorithm.EC_secp384r1: "ES384",
    KeyAlgorithm.RSA_2048: "RS256",
    KeyAlgorithm.ED25519: "EdDSA",
}


def sign(key: PrivateKey, alg: str, data: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        digest = hashes.SHA384() if alg == "ES384" else hashes.SHA256()
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(digest)))
        size = (key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return key.sign(data)


def jws(key: PrivateKey, alg: str, protected: dict[str, Any], payload: bytes | None) -> dict[str, str]:
    protected_b64 = b64encode(json.dumps(protected).encode())
    payload_b64 = "" if payload is None else b64encode(payload)
    signature = sign(key, alg, f"{protected_b64}.{payload_b64}".encode())
    return {"protected": protected_b64, "payload": payload_b64, "signature": b64encode(signature)}


@dataclass
class Client:
    http: httpx.AsyncClient
    directory_url: str
    key: PrivateKey = field(default_factory=lambda: generate_key(KeyAlgorithm.EC_prime256v1))
    alg: str = "ES256"
    kid: str | None = None
    directory: dict[str, Any] = field(default_factory=dict)

    @property
    def jwk(self) -> dict[str, str]:
        return jwk_of(self.key.public_key()).to_json()

    @property
    def thumbprint(self) -> str:
        return jwk_of(self.key.public_key()).thumbprint

    async def load(self) -> Client:
        self.directory = (await self.http.get(self.directory_url)).json()
        return self

    async def nonce(self) -> str:
        return (await self.http.head(self.directory["newNonce"])).headers["Replay-Nonce"]

    async def post(
        self,
        url: str,
        payload: Any = None,
        *,
        use_jwk: bool = False,
        nonce: str | None = None,
        header_url: str | None = None,
        alg: str | None = None,
        extra: dict[str, Any] | None = None,
        key: PrivateKey | None = None,
        content_type: str = "application/jose+json",
    ) -> httpx.Response:
        """payload None is POST-as-GET; a dict is JSON."""
        protected: dict[str, Any] = {
            "alg": alg or self.alg,
            "nonce": nonce or await self.nonce(),
            "url": header_url or url,
        }
        if use_jwk or self.kid is None:
            protected["jwk"] = jwk_of((key or self.key).public_key()).to_json()
        else:
            protected["kid"] = self.kid
        protected.update(extra or {})
        body = None if payload is None else json.dumps(payload).encode()
        signed = jws(key or self.key, alg or self.alg, protected, body)
        return await self.http.post(url, content=json.dumps(signed), headers={"Content-Type": content_type})

    async def register(self, **payload: Any) -> httpx.Response:
        response = await self.post(
            self.directory["newAccount"], {"termsOfServiceAgreed": True, **payload}, use_jwk=True
        )
        if response.status_code in (200, 201):
            self.kid = response.headers["Location"]
        return response

    async def new_order(self, *names: str, kind: str = "dns", **payload: Any) -> httpx.Response:
        identifiers = [{"type": kind, "value": n} for n in names]
        return await self.post(self.directory["newOrder"], {"identifiers": identifiers, **payload})

    def key_authorization(self, token: str) -> str:
        return f"{token}.{self.thumbprint}"

    def key_change(self, new_key: PrivateKey) -> dict[str, str]:
        """The inner JWS of a keyChange (RFC 8555 §7.3.5) from this account's key to `new_key`."""
        url = self.directory["keyChange"]
        return jws(
            new_key,
            "ES256",
            {"alg": "ES256", "url": url, "jwk": jwk_of(new_key.public_key()).to_json()},
            json.dumps({"account": self.kid, "oldKey": self.jwk}).encode(),
        )


def csr_der(*names: str, key: PrivateKey | None = None) -> bytes:
    from ca_core.csr import build_csr
    from ca_core.request import Subject, SubjectAltNames

    key = key or generate_key(KeyAlgorithm.EC_prime256v1)
    csr = build_csr(Subject(common_name=names[0]), SubjectAltNames(dns=names), key)
    return csr.public_bytes(Encoding.DER)


def certificates(pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem.encode())
