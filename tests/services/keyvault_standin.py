"""A loopback stand-in for Azure Key Vault and its Entra ID sign-in (no emulator exists offline):
just enough of both for the official SDK to run unchanged — OpenID discovery and the client-
credentials token endpoint under /{tenant}/, Key Vault's 401 bearer challenge, and
POST /certificates/{name}/import, which keeps every imported PKCS#12 as a new version of `name`.
It is a stand-in, not Azure: docs/renewals-and-syncs.md says so."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, pkcs12

from tests.services.receivers import Exchange, Received

_IMPORT = re.compile(r"/certificates/([0-9A-Za-z-]+)/import")


@dataclass(frozen=True)
class Version:
    version: str
    certificate: x509.Certificate
    chain: list[x509.Certificate]
    has_key: bool
    key_matches: bool
    tags: dict[str, str]
    api_version: str


@dataclass
class KeyVaultStandIn:
    tenant: str
    client_id: str
    client_secret: str
    base: str = ""  # https://127.0.0.1:PORT, set once the server listens
    tokens: set[str] = field(default_factory=set)
    certificates: dict[str, list[Version]] = field(default_factory=dict)
    token_requests: list[dict[str, list[str]]] = field(default_factory=list)

    def __call__(self, request: Received) -> Exchange:
        path = urlsplit(request.path).path
        if path == f"/{self.tenant}/v2.0/.well-known/openid-configuration":
            return self._json(200, self._discovery())
        if path == f"/{self.tenant}/oauth2/v2.0/token" and request.method == "POST":
            return self._token(request)
        if _IMPORT.fullmatch(path) and request.method == "POST":
            return self._import(request, _IMPORT.fullmatch(path).group(1))  # type: ignore[union-attr]
        return self._json(404, {"error": {"code": "NotFound", "message": f"no {path}"}})

    def _discovery(self) -> dict[str, Any]:
        authority = f"{self.base}/{self.tenant}"
        return {
            "issuer": f"{authority}/v2.0",
            "authorization_endpoint": f"{authority}/oauth2/v2.0/authorize",
            "token_endpoint": f"{authority}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{authority}/oauth2/v2.0/devicecode",
        }

    def _token(self, request: Received) -> Exchange:
        form = parse_qs(request.body.decode())
        self.token_requests.append(form)
        if form.get("client_id") != [self.client_id] or form.get("client_secret") != [self.client_secret]:
            return self._json(
                401,
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                },
            )
        token = secrets.token_urlsafe(24)
        self.tokens.add(token)
        return self._json(200, {"token_type": "Bearer", "expires_in": 3600, "access_token": token})

    def _import(self, request: Received, name: str) -> Exchange:
        authorization = request.headers.get("Authorization", "")
        if authorization.removeprefix("Bearer ") not in self.tokens:
            challenge = (
                f'Bearer authorization="{self.base}/{self.tenant}", resource="https://vault.azure.net"'
            )
            return Exchange(401, b"", {"WWW-Authenticate": challenge})
        sent = json.loads(request.body)
        pfx = base64.b64decode(sent["value"])
        key, certificate, chain = pkcs12.load_key_and_certificates(pfx, None)
        assert certificate is not None
        version = secrets.token_hex(16)
        spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        matches = key is not None and key.public_key().public_bytes(
            *spki
        ) == certificate.public_key().public_bytes(*spki)
        query = parse_qs(urlsplit(request.path).query)
        self.certificates.setdefault(name, []).append(
            Version(version, certificate, list(chain), key is not None, matches, sent.get("tags") or {},
                    query["api-version"][0])
        )  # fmt: skip
        return self._json(200, self._bundle(name, version, certificate, sent))

    def _bundle(
        self, name: str, version: str, certificate: x509.Certificate, sent: dict[str, Any]
    ) -> dict[str, Any]:
        der = certificate.public_bytes(Encoding.DER)
        now = int(time.time())
        return {
            "id": f"{self.base}/certificates/{name}/{version}",
            "kid": f"{self.base}/keys/{name}/{version}",
            "sid": f"{self.base}/secrets/{name}/{version}",
            "x5t": base64.urlsafe_b64encode(hashlib.sha1(der).digest())
            .decode()
            .rstrip("="),  # x5t is SHA-1 by definition
            "cer": base64.b64encode(der).decode(),
            "attributes": {"enabled": True, "created": now, "updated": now, "recoveryLevel": "Recoverable"},
            "tags": sent.get("tags") or {},
        }

    @staticmethod
    def _json(status: int, body: dict[str, Any]) -> Exchange:
        return Exchange(status, json.dumps(body).encode(), {"Content-Type": "application/json"})
