"""A fast asynchronous ACME client for the benchmark: one account key, ES256, aiohttp with kept-alive
connections, nonces taken from responses (a HEAD newNonce only when none is left) and the RFC 8555
issuance flow of one order as one coroutine. The JWS and CSR helpers are the protocol tests' own.

aiohttp, not httpx: in the same pinned run against Pebble the httpx client spent 160 ms of CPU per
order and aiohttp 35 ms (docs/performance.md, "The client"); at Pebble's rate per core (8-14 ms of
server CPU per order) the httpx client would need several cores, so it, not the server, set the rate."""

from __future__ import annotations

import asyncio
import email.utils
import importlib.util
import json
import ssl
import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiohttp
import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from ca_core.jose import b64encode, jwk_of
from tests.acme.client import jws

# httpcore (under --client httpx) runs `import sniffio` for every connection lock it makes; without
# sniffio installed, each failed import searches sys.path again (about 1 ms of the client's CPU per
# request). None in sys.modules makes the import fail at once, with the same outcome (asyncio).
if importlib.util.find_spec("sniffio") is None:
    sys.modules["sniffio"] = None  # type: ignore[assignment]

BAD_NONCE_RETRIES = 3
# Polling (RFC 8555 §7.5.1): by default the client waits as long as a poll's Retry-After says (§7.4:
# "The server SHOULD include a Retry-After header field"), as real clients do; without one, and always
# with honour_retry_after=False, it follows this fixed schedule, the same for every server. The delays
# grow so a slow server is not flooded.
POLL_DELAYS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
POLL_MAX_DELAY = 0.25
POLL_TIMEOUT = 60.0
# Request kinds counted per order (Account.counts).
KINDS = ("newOrder", "authz", "challenge", "poll_ready", "finalize", "poll_valid", "cert", "nonce")
PEM_CHAIN = "application/pem-certificate-chain"
KEEPALIVE_SECONDS = 3.0


class OrderFailed(Exception):
    """One order did not end with a certificate; the message names the step and the server's answer."""


@dataclass(frozen=True)
class Reply:
    """One HTTP response, read whole: status, headers (case-insensitive) and body."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")


class Http:
    """An aiohttp session for one target: at most `connections` kept-alive connections, TLS checked
    against `ssl_context` (None: plain HTTP), no cookies, no decompression (ACME needs neither)."""

    def __init__(self, ssl_context: ssl.SSLContext | None, *, connections: int, timeout: float) -> None:
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else False
        self._connections, self._timeout = connections, timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Http:
        self._session = aiohttp.ClientSession(
            # Idle connections are closed before uvicorn's 5 s keep-alive timeout closes them, so a POST
            # is never written to a connection the server is closing (seen at C=64 as "Server
            # disconnected"; aiohttp retries no POST).
            connector=aiohttp.TCPConnector(
                limit=self._connections, ssl=self._ssl, keepalive_timeout=KEEPALIVE_SECONDS
            ),
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
        )
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(
        self, method: str, url: str, *, content: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> Reply:
        assert self._session is not None, "use Http as an async context manager"
        async with self._session.request(method, url, data=content, headers=headers) as response:
            return Reply(response.status, response.headers, await response.read())

    async def get(self, url: str) -> Reply:
        return await self.request("GET", url)

    async def head(self, url: str) -> Reply:
        return await self.request("HEAD", url)

    async def post(self, url: str, *, content: bytes, headers: Mapping[str, str]) -> Reply:
        return await self.request("POST", url, content=content, headers=headers)


class HttpxHttp(Http):
    """The same over httpx (the benchmark's first client), kept to measure one client against the
    other: `--client httpx`."""

    async def __aenter__(self) -> HttpxHttp:
        connections = self._connections
        self._httpx = httpx.AsyncClient(
            verify=self._ssl if isinstance(self._ssl, ssl.SSLContext) else False,
            timeout=httpx.Timeout(self._timeout),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self._httpx.aclose()

    async def request(
        self, method: str, url: str, *, content: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> Reply:
        response = await self._httpx.request(method, url, content=content, headers=headers)
        return Reply(response.status_code, response.headers, response.content)


CLIENTS: dict[str, type[Http]] = {"aiohttp": Http, "httpx": HttpxHttp}


def describe(step: str, response: Reply) -> str:
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

    http: Http
    directory: dict[str, Any]
    key: ec.EllipticCurvePrivateKey
    kid: str | None = None
    nonces: list[str] = field(default_factory=list)
    requests: int = 0  # HTTP requests sent (polls and nonce fetches included)
    counts: Counter[str] = field(default_factory=Counter)  # requests by kind (KINDS), badNonce retries too
    honour_retry_after: bool = True

    @classmethod
    async def register(cls, http: Http, directory_url: str, key: ec.EllipticCurvePrivateKey) -> Account:
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
        self.counts["nonce"] += 1
        response = await self.http.head(self.directory["newNonce"])
        nonce: str | None = response.headers.get("Replay-Nonce")
        if not nonce:
            raise OrderFailed(describe("newNonce", response))
        return nonce

    async def post(self, url: str, payload: Any = None, *, kind: str = "other") -> Reply:
        """A JWS POST (payload None: POST-as-GET), signed with the kid once registered, counted under
        `kind`; a badNonce answer is retried with the fresh nonce it carries (RFC 8555 §6.5)."""
        for attempt in range(BAD_NONCE_RETRIES + 1):
            protected: dict[str, Any] = {"alg": "ES256", "nonce": await self._nonce(), "url": url}
            if self.kid is None:
                protected["jwk"] = jwk_of(self.key.public_key()).to_json()
            else:
                protected["kid"] = self.kid
            body = None if payload is None else json.dumps(payload).encode()
            signed = json.dumps(jws(self.key, "ES256", protected, body)).encode()
            self.requests += 1
            self.counts[kind] += 1
            response = await self.http.post(
                url, content=signed, headers={"Content-Type": "application/jose+json"}
            )
            if nonce := response.headers.get("Replay-Nonce"):
                self.nonces.append(nonce)
            if attempt < BAD_NONCE_RETRIES and _is_bad_nonce(response):
                continue
            return response
        raise AssertionError("unreachable: the last attempt returns")


def _is_bad_nonce(response: Reply) -> bool:
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


async def _fetch(account: Account, step: str, url: str, kind: str) -> tuple[dict[str, Any], Reply]:
    response = await account.post(url, kind=kind)
    if response.status_code != 200:
        raise OrderFailed(describe(step, response))
    document: dict[str, Any] = response.json()
    return document, response


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds a Retry-After header asks for (RFC 9110 §10.2.3: delay-seconds or an HTTP-date); None
    when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


async def _poll(account: Account, step: str, url: str, until: frozenset[str], kind: str) -> dict[str, Any]:
    """POST-as-GET `url` until its status is in `until`; `invalid` or the time limit fail the order.
    Between polls: the response's Retry-After when honoured (capped by the time left), else the fixed
    schedule."""
    deadline = time.monotonic() + POLL_TIMEOUT
    for attempt in range(1_000_000):
        document, response = await _fetch(account, step, url, kind)
        status = document.get("status")
        if status in until:
            return document
        if status == "invalid" or time.monotonic() > deadline:
            raise OrderFailed(f"{step}: order {status}: {json.dumps(document.get('error', ''))[:300]}")
        delay = POLL_DELAYS[attempt] if attempt < len(POLL_DELAYS) else POLL_MAX_DELAY
        asked = retry_after(response.headers.get("Retry-After")) if account.honour_retry_after else None
        if asked is not None:
            delay = min(asked, max(0.0, deadline - time.monotonic()))
        await asyncio.sleep(delay)
    raise AssertionError("unreachable: the deadline ends the loop")


async def _answer_challenges(account: Account, authorizations: list[str]) -> None:
    """POST each authorization; for a pending one, answer its http-01 challenge with {} (§7.5.1)."""
    for url in authorizations:
        authorization, _ = await _fetch(account, "authorization", url, "authz")
        if authorization.get("status") == "valid":
            continue
        challenge = next((c for c in authorization.get("challenges", []) if c["type"] == "http-01"), None)
        if challenge is None:
            raise OrderFailed(f"authorization: no http-01 challenge offered: {authorization}")
        answered = await account.post(challenge["url"], {}, kind="challenge")
        if answered.status_code != 200:
            raise OrderFailed(describe("challenge", answered))


async def issue(account: Account, name: str, csr_der: bytes) -> Issued:
    """newOrder → POST each authorization and answer its http-01 challenge unless the order is ready at
    once → poll until ready → finalize with `csr_der` → poll until valid → download (RFC 8555 §7.4)."""
    started = time.monotonic()
    created = await account.post(
        account.directory["newOrder"], {"identifiers": [{"type": "dns", "value": name}]}, kind="newOrder"
    )
    if created.status_code != 201:
        raise OrderFailed(describe("newOrder", created))
    order_url = created.headers["Location"]
    order: dict[str, Any] = created.json()
    reused = order.get("status") == "ready"
    if not reused:
        await _answer_challenges(account, order["authorizations"])
        order = await _poll(account, "order (until ready)", order_url, frozenset({"ready"}), "poll_ready")
    finalized = await account.post(order["finalize"], {"csr": b64encode(csr_der)}, kind="finalize")
    if finalized.status_code != 200:
        raise OrderFailed(describe("finalize", finalized))
    order = finalized.json()
    if order.get("status") != "valid":
        order = await _poll(account, "order (until valid)", order_url, frozenset({"valid"}), "poll_valid")
    downloaded = await account.post(order["certificate"], kind="cert")
    content_type = downloaded.headers.get("Content-Type", "").split(";")[0].strip()
    if downloaded.status_code != 200 or content_type != PEM_CHAIN:
        raise OrderFailed(describe("certificate", downloaded))
    return Issued(downloaded.content, reused, time.monotonic() - started)
