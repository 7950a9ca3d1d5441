"""The `acme` Python library (josepy underneath) at two heights: `Wire` signs exactly the JWS a scenario
asks for (a replayed nonce, a wrong `url`, a jwk where a kid belongs) and returns the raw reply, so tests
assert status, headers and problem types; `issue` runs a whole order with `acme.client.ClientV2`."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import httpx
from acme import client, messages
from acme import jws as acme_jws
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.b64 import b64decode, b64encode
from josepy.json_util import decode_b64jose
from josepy.jwa import ES256
from josepy.jwk import JWK, JWKEC

from conformance.servers import ChallTestSrv, Target

ACME_ERROR = "urn:ietf:params:acme:error:"
JOSE_JSON = "application/jose+json"
PROBLEM_JSON = "application/problem+json"


def new_key() -> JWKEC:
    """A fresh P-256 account or certificate key (signs ES256)."""
    return JWKEC(key=ec.generate_private_key(ec.SECP256R1()))


@dataclass(frozen=True)
class Reply:
    """One HTTP answer as it came off the wire."""

    status: int
    headers: httpx.Headers
    content: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def problem(self) -> str:
        """The RFC 8555 §6.7 problem type, checking the body is a problem document (RFC 7807)."""
        assert self.headers.get("content-type", "").split(";")[0] == PROBLEM_JSON, self.describe()
        kind: str = self.json["type"]
        return kind

    @property
    def location(self) -> str | None:
        value: str | None = self.headers.get("location")
        return value

    def links(self, relation: str) -> list[str]:
        """Targets of the Link header fields with rel=`relation` (RFC 8288)."""
        found = []
        for value in self.headers.get_list("link"):
            for target, rel in re.findall(r'<([^>]*)>\s*;\s*rel="?([^";,]+)"?', value):
                if rel == relation:
                    found.append(target)
        return found

    def describe(self) -> str:
        return f"HTTP {self.status} {dict(self.headers)} {self.content[:500]!r}"


class Wire:
    """Hand-built JWS requests (RFC 8555 §6.2) to one target, over a client that trusts its bundle."""

    def __init__(self, target: Target, *, timeout: float = 15, keep_alive: bool = True) -> None:
        """keep_alive=False: every request on a connection of its own (`Connection: close`), so behind a
        round-robin balancer consecutive requests reach different servers."""
        self.target = target
        self.http = httpx.Client(
            verify=target.ssl_context(),
            timeout=timeout,
            limits=httpx.Limits() if keep_alive else httpx.Limits(max_keepalive_connections=0),
            headers={} if keep_alive else {"connection": "close"},
        )
        self.directory: dict[str, Any] = self.http.get(target.directory_url).raise_for_status().json()

    def close(self) -> None:
        self.http.close()

    def nonce(self) -> str:
        """A fresh nonce from newNonce (RFC 8555 §7.2)."""
        reply = self.http.head(self.directory["newNonce"])
        return reply.headers["replay-nonce"]

    def post(
        self,
        url: str,
        payload: Mapping[str, Any] | None,
        *,
        key: JWK,
        kid: str | None = None,
        nonce: str | None = None,
        url_header: str | None = None,
        timeout: float | None = None,
    ) -> Reply:
        """POST a JWS. `payload=None` is a POST-as-GET (RFC 8555 §6.3: empty payload). With `kid` the
        account is named by URL, otherwise the JWK itself is embedded (§6.2)."""
        body = self.sign(payload, key=key, kid=kid, nonce=nonce or self.nonce(), url=url_header or url)
        response = self.http.post(
            url,
            content=body,
            headers={"content-type": JOSE_JSON},
            timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )
        return Reply(response.status_code, response.headers, response.content)

    @staticmethod
    def sign(payload: Mapping[str, Any] | None, *, key: JWK, kid: str | None, nonce: str, url: str) -> bytes:
        raw = b"" if payload is None else json.dumps(payload).encode()
        signed = acme_jws.JWS.sign(raw, key=key, alg=ES256, nonce=decode_b64jose(nonce), url=url, kid=kid)
        return cast(str, signed.json_dumps()).encode()

    def eab_binding(self, key: JWK, kid: str, hmac_key: str) -> dict[str, str]:
        """RFC 8555 §7.3.4: a flattened JWS over the account's public JWK, MACed (HS256) with the
        external account key, its protected header naming the key id and the newAccount URL."""
        protected = {"alg": "HS256", "kid": kid, "url": self.directory["newAccount"]}
        encoded = b64encode(json.dumps(protected).encode()).decode()
        payload = b64encode(json.dumps(key.public_key().to_partial_json()).encode()).decode()
        secret = b64decode(hmac_key)
        mac = hmac.new(secret, f"{encoded}.{payload}".encode(), hashlib.sha256).digest()
        return {"protected": encoded, "payload": payload, "signature": b64encode(mac).decode()}

    def new_account(self, key: JWK, **fields: Any) -> Reply:
        """newAccount (RFC 8555 §7.3) with terms agreed unless `fields` say otherwise."""
        payload = {"termsOfServiceAgreed": True, **fields}
        return self.post(self.directory["newAccount"], payload, key=key)

    def account(self, key: JWK | None = None) -> Account:
        """A registered account: its key and URL (the kid)."""
        key = key or new_key()
        reply = self.new_account(key, contact=["mailto:conformance@example.com"])
        assert reply.status == 201, reply.describe()
        assert reply.location is not None
        return Account(self, key, reply.location)


@dataclass(frozen=True)
class Account:
    wire: Wire
    key: JWK
    url: str

    def post(self, url: str, payload: Mapping[str, Any] | None, **kwargs: Any) -> Reply:
        return self.wire.post(url, payload, key=self.key, kid=self.url, **kwargs)

    def new_order(self, *names: str) -> Reply:
        """newOrder (RFC 8555 §7.4) for DNS identifiers."""
        identifiers = [{"type": "dns", "value": name} for name in names]
        return self.post(self.wire.directory["newOrder"], {"identifiers": identifiers})

    def key_change(self, new: JWK) -> Reply:
        """keyChange (RFC 8555 §7.3.5): the outer JWS signed by the current key (kid), its payload an
        inner JWS signed by the new key, carrying that key as `jwk`, the same `url` and no nonce."""
        url = self.wire.directory["keyChange"]
        inner = {"account": self.url, "oldKey": self.key.public_key().to_partial_json()}
        signed = acme_jws.JWS.sign(json.dumps(inner).encode(), key=new, alg=ES256, nonce=None, url=url)
        return self.post(url, json.loads(signed.json_dumps()))

    def thumbprint(self) -> str:
        return b64encode(self.key.thumbprint(hash_function=hashes.SHA256)).decode()

    def key_authorization(self, token: str) -> str:
        """RFC 8555 §8.1: token || '.' || base64url(JWK thumbprint)."""
        return f"{token}.{self.thumbprint()}"

    def acme_client(self) -> client.ClientV2:
        """The library's own client, bound to this account."""
        network = client.ClientNetwork(
            self.key,
            account=messages.RegistrationResource(uri=self.url, body=messages.Registration()),
            alg=ES256,
            verify_ssl=cast(bool, str(self.wire.target.trust_bundle)),  # requests takes a CA path too
            user_agent="conformance-acme-python",
            timeout=30,
        )
        directory = messages.Directory.from_json(self.wire.directory)
        return client.ClientV2(directory, network)


def csr_for(names: list[str]) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    """A PEM CSR naming `names` in the SAN extension, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM), key


@dataclass(frozen=True)
class Issued:
    fullchain_pem: str
    key: ec.EllipticCurvePrivateKey
    order_url: str

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificates(self.fullchain_pem.encode())[0]


def issue(
    account: Account,
    names: list[str],
    responder: ChallTestSrv,
    *,
    challenge: str = "dns-01",
    timeout: float = 60,
) -> Issued:
    """newOrder, one `challenge` per pending authorization served by `responder` and answered with
    {} (RFC 8555 §7.5.1), then the library polls, finalizes and downloads the chain (§7.4)."""
    acme_client = account.acme_client()
    csr_pem, key = csr_for(names)
    order = acme_client.new_order(csr_pem)
    cleanups = []
    try:
        for authorization in order.authorizations:
            if authorization.body.status == messages.STATUS_VALID:
                continue
            offered = [c.to_partial_json() for c in authorization.body.challenges]
            chosen = next(c for c in offered if c["type"] == challenge)
            key_authorization = account.key_authorization(chosen["token"])
            domain = authorization.body.identifier.value
            cleanups.append(responder.publish(challenge, domain, key_authorization))
            answered = account.post(chosen["url"], {})
            assert answered.status == 200, answered.describe()
        deadline = datetime.now() + timedelta(seconds=timeout)
        order = acme_client.poll_and_finalize(order, deadline=deadline)
    finally:
        for cleanup in cleanups:
            cleanup()
    assert order.fullchain_pem is not None
    return Issued(order.fullchain_pem, key, order.uri)


def poll(account: Account, url: str, *, until: set[str], timeout: float = 30) -> dict[str, Any]:
    """POST-as-GET `url` until its status is one of `until` (RFC 8555 §7.5.1 polling)."""
    deadline = time.monotonic() + timeout
    while True:
        reply = account.post(url, None)
        assert reply.status == 200, reply.describe()
        body: dict[str, Any] = reply.json
        if body["status"] in until or time.monotonic() > deadline:
            return body
        time.sleep(0.2)
