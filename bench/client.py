"""A fast asynchronous ACME client for the benchmark: one account key, ES256, httpx with kept-alive
connections, nonces taken from responses (a HEAD newNonce only when none is left) and the RFC 8555
issuance flow of one order as one coroutine. The JWS and CSR helpers are the protocol tests' own."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from ca_core.jose import b64encode, jwk_of
from tests.acme.client import jws

# httpcore runs `import sniffio` for every connection lock it makes; without sniffio installed, each
# of those failed imports searches sys.path again (about 1 ms of the client's CPU per request). None in
# sys.modules makes the import fail at once, with the same outcome (asyncio). This process only.
if importlib.util.find_spec("sniffio") is None:
    sys.modules["sniffio"] = None  # type: ignore[assignment]

BAD_NONCE_RETRIES = 3
# Polling (RFC 8555 §7.5.1): the same schedule for every server, Retry-After ignored, so both are
# asked equally often; the delays grow so a slow server is not flooded.
POLL_DELAYS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
POLL_MAX_DELAY = 0.25
POLL_TIMEOUT = 60.0
PEM_CHAIN = "application/pem-certificate-chain"


class OrderFailed(Exception):
    """One order did not end with a certificate; the message names the step and the server's answer."""


def describe(step: str, response: httpx.Response) -> str:
    """`step: HTTP 400 urn:...:malformed: detail` from a response (an RFC 7807 problem when it is one)."""
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if isinstance(problem, dict) and "type" in problem:
        return f"{step}: HTTP {response.status_code} {problem['type']}: {problem.get('detail', '')}"
    return f"{step}: HTTP {response.status_code} {response.text[:200]!r}"


@dataclass
class Account:
    """An ACME account on one server, shared by all the benchmark's concurrent orders."""

    http: httpx.AsyncClient
    directory: dict[str, Any]
    key: ec.EllipticCurvePrivateKey
    kid: str | None = None
    nonces: list[str] = field(default_factory=list)
    requests: int = 0  # HTTP requests sent (polls and nonce fetches included)

    @classmethod
    async def register(
        cls, http: httpx.AsyncClient, directory_url: str, key: ec.EllipticCurvePrivateKey
    ) -> Account:
        directory = await http.get(directory_url)
        if directory.status_code != 200:
            raise OrderFailed(describe("directory", directory))
        account = cls(http, directory.json(), key)
        created = await account.post(account.directory["newAccount"], {"termsOfServiceAgreed": True})
        if created.status_code not in (200, 201):
            raise OrderFailed(describe("newAccount", created))
        account.kid = created.headers["Location"]
        return account

    @property
    def thumbprint(self) -> str:
        return jwk_of(self.key.public_key()).thumbprint

    async def _nonce(self) -> str:
        if self.nonces:
            return self.nonces.pop()
        self.requests += 1
        response = await self.http.head(self.directory["newNonce"])
        nonce: str | None = response.headers.get("Replay-Nonce")
        if not nonce:
            raise OrderFailed(describe("newNonce", response))
        return nonce

    async def post(self, url: str, payload: Any = None) -> httpx.Response:
        """A JWS POST (payload None: POST-as-GET), signed with the kid once registered; a badNonce
        answer is retried with the fresh nonce it carries (RFC 8555 §6.5)."""
        for attempt in range(BAD_NONCE_RETRIES + 1):
            protected: dict[str, Any] = {"alg": "ES256", "nonce": await self._nonce(), "url": url}
            if self.kid is None:
                protected["jwk"] = jwk_of(self.key.public_key()).to_json()
            else:
                protected["kid"] = self.kid
            body = None if payload is None else json.dumps(payload).encode()
            signed = json.dumps(jws(self.key, "ES256", protected, body))
            self.requests += 1
            response = await self.http.post(
                url, content=signed, headers={"Content-Type": "application/jose+json"}
            )
            if nonce := response.headers.get("Replay-Nonce"):
                self.nonces.append(nonce)
            if attempt < BAD_NONCE_RETRIES and _is_bad_nonce(response):
                continue
            return response
        raise AssertionError("unreachable: the last attempt returns")


def _is_bad_nonce(response: httpx.Response) -> bool:
    if response.status_code != 400:
        return False
    try:
        problem = response.json()
    except ValueError:
        return False
    return isinstance(problem, dict) and str(problem.get("type", "")).endswith(":badNonce")


@dataclass(frozen=True)
class Issued:
    """One order's outcome: the PEM chain, whether the order was ready at once (all its authorizations
    reused), and its latency from newOrder to the downloaded chain."""

    chain: bytes
    reused: bool
    seconds: float


async def _fetch(account: Account, step: str, url: str) -> dict[str, Any]:
    response = await account.post(url)
    if response.status_code != 200:
        raise OrderFailed(describe(step, response))
    document: dict[str, Any] = response.json()
    return document


async def _poll(account: Account, step: str, url: str, until: frozenset[str]) -> dict[str, Any]:
    """POST-as-GET `url` until its status is in `until`; `invalid` or the time limit fail the order."""
    deadline = time.monotonic() + POLL_TIMEOUT
    for attempt in range(1_000_000):
        document = await _fetch(account, step, url)
        status = document.get("status")
        if status in until:
            return document
        if status == "invalid" or time.monotonic() > deadline:
            raise OrderFailed(f"{step}: order {status}: {json.dumps(document.get('error', ''))[:300]}")
        delay = POLL_DELAYS[attempt] if attempt < len(POLL_DELAYS) else POLL_MAX_DELAY
        await asyncio.sleep(delay)
    raise AssertionError("unreachable: the deadline ends the loop")


async def _answer_challenges(account: Account, authorizations: list[str]) -> None:
    """POST each authorization; for a pending one, answer its http-01 challenge with {} (§7.5.1)."""
    for url in authorizations:
        authorization = await _fetch(account, "authorization", url)
        if authorization.get("status") == "valid":
            continue
        challenge = next((c for c in authorization.get("challenges", []) if c["type"] == "http-01"), None)
        if challenge is None:
            raise OrderFailed(f"authorization: no http-01 challenge offered: {authorization}")
        answered = await account.post(challenge["url"], {})
        if answered.status_code != 200:
            raise OrderFailed(describe("challenge", answered))


async def issue(account: Account, name: str, csr_der: bytes) -> Issued:
    """newOrder → POST each authorization and answer its http-01 challenge unless the order is ready at
    once → poll until ready → finalize with `csr_der` → poll until valid → download (RFC 8555 §7.4)."""
    started = time.monotonic()
    created = await account.post(
        account.directory["newOrder"], {"identifiers": [{"type": "dns", "value": name}]}
    )
    if created.status_code != 201:
        raise OrderFailed(describe("newOrder", created))
    order_url = created.headers["Location"]
    order: dict[str, Any] = created.json()
    reused = order.get("status") == "ready"
    if not reused:
        await _answer_challenges(account, order["authorizations"])
        order = await _poll(account, "order (until ready)", order_url, frozenset({"ready"}))
    finalized = await account.post(order["finalize"], {"csr": b64encode(csr_der)})
    if finalized.status_code != 200:
        raise OrderFailed(describe("finalize", finalized))
    order = finalized.json()
    if order.get("status") != "valid":
        order = await _poll(account, "order (until valid)", order_url, frozenset({"valid"}))
    downloaded = await account.post(order["certificate"])
    content_type = downloaded.headers.get("Content-Type", "").split(";")[0].strip()
    if downloaded.status_code != 200 or content_type != PEM_CHAIN:
        raise OrderFailed(describe("certificate", downloaded))
    return Issued(downloaded.content, reused, time.monotonic() - started)
