"""The corpus of hostile ACME requests (issue 10): each case is one named request a client should never
send, with the exact status and RFC 8555 §6.7 problem type the server answers, and the proof that it
stored nothing (every table's rows, tests/hostile/snapshot.py). One server and one set of accounts,
orders and a certificate per engine (tests/hostile/conftest.py)."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from acme_server.services.acme import eab
from acme_server.storage import Storage
from ca_core.jose import b64encode, jwk_of
from ca_core.keys import KeyAlgorithm, PrivateKey, generate_key
from ca_core.renewal_info import cert_id, serial_bytes
from tests.acme.client import Client, certificates, csr_der, jws, sign
from tests.acme.conftest import AcmeServer, acme_server
from tests.acme.test_eab import binding
from tests.acme.test_issuance_flow import _issue, _ready_order
from tests.hostile.corpus import Case, problem_of
from tests.hostile.snapshot import unchanged
from tests.validation.responders import challenge_certificate

pytestmark = pytest.mark.asyncio(loop_scope="module")

ERR = "urn:ietf:params:acme:error:"
JOSE = "application/jose+json"


@dataclass
class World:
    """What the cases aim at: account `a` with a pending order, a ready order and an issued
    certificate; account `b` with an order of its own; a deactivated account; an unused EAB key."""

    acme: AcmeServer
    a: Client
    b: Client
    gone: Client
    pending: dict[str, Any]  # a's pending order, its "url" and first authorization and challenge
    b_order: dict[str, Any]
    ready: dict[str, Any]  # a's ready order for READY_NAME
    cert_der: bytes  # a's certificate for ISSUED_NAME
    cert_url: str
    cert_id: str  # its RFC 9773 certID
    eab_kid: str
    eab_hmac: str

    @property
    def dir(self) -> dict[str, str]:
        return self.a.directory

    def url(self, path: str) -> str:
        return f"{self.acme.url}/acme/{path}"


ISSUED_NAME = "issued.hostile.internal"
READY_NAME = "ready.hostile.internal"


async def _first_challenge(client: Client, order: dict[str, Any]) -> dict[str, Any]:
    authz_url = order["authorizations"][0]
    authz = (await client.post(authz_url)).json()
    return {**order, "authz": authz_url, "challenge": authz["challenges"][0]["url"]}


async def _pending_order(client: Client, name: str) -> dict[str, Any]:
    created = await client.new_order(name)
    assert created.status_code == 201, created.text
    return await _first_challenge(client, {**created.json(), "url": created.headers["Location"]})


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(corpus_storage: Storage, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    async with acme_server(corpus_storage, tmp_path_factory.mktemp("hostile-acme"), {}) as acme:
        a, chain_order, _ = await _issue(acme, ISSUED_NAME)
        leaf = certificates((await a.post(str(chain_order["certificate"]))).text)[0]
        _, ready = await _ready_order(acme, READY_NAME, client=a)
        b = await acme.client()
        assert (await b.register()).status_code == 201
        gone = await acme.client()
        await gone.register()
        assert gone.kid is not None
        assert (await gone.post(gone.kid, {"status": "deactivated"})).status_code == 200
        key = await eab.create_eab_key(acme.rt, None)
        yield World(
            acme=acme,
            a=a,
            b=b,
            gone=gone,
            pending=await _pending_order(a, "pending.hostile.internal"),
            b_order=await _pending_order(b, "b.hostile.internal"),
            ready={**ready, "name": READY_NAME},
            cert_der=leaf.public_bytes(Encoding.DER),
            cert_url=str(chain_order["certificate"]),
            cert_id=cert_id(leaf),
            eab_kid=key.kid,
            eab_hmac=key.hmac,
        )


# --- request builders ----------------------------------------------------------------------------------


def _body(payload: Any) -> bytes:
    """None: POST-as-GET (empty payload); bytes as given; anything else as JSON."""
    if payload is None:
        return b""
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


async def signed(
    c: Client,
    url: str,
    payload: Any = None,
    *,
    header: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    key: PrivateKey | None = None,
    use_jwk: bool = False,
) -> dict[str, str]:
    """A flattened JWS as `c` would sign it (ES256, fresh nonce, url, kid or jwk), with `header`
    members set or replaced and `drop` members removed before signing."""
    protected: dict[str, Any] = {"alg": "ES256", "nonce": await c.nonce(), "url": url}
    if use_jwk or c.kid is None:
        protected["jwk"] = jwk_of((key or c.key).public_key()).to_json()
    else:
        protected["kid"] = c.kid
    protected.update(header or {})
    for name in drop:
        protected.pop(name)
    return jws(key or c.key, "ES256", protected, _body(payload))


def signed_text(
    c: Client, protected: str, payload: Any = None, *, payload_b64: str | None = None
) -> dict[str, str]:
    """A JWS over a protected header given as JSON text (duplicate members stay duplicates) and the
    payload, or `payload_b64` as given (the signature covers it even when it is no base64url)."""
    protected_b64 = b64encode(protected.encode())
    payload_b64 = b64encode(_body(payload)) if payload_b64 is None else payload_b64
    signature = sign(c.key, "ES256", f"{protected_b64}.{payload_b64}".encode())
    return {"protected": protected_b64, "payload": payload_b64, "signature": b64encode(signature)}


async def post_body(
    w: World, url: str, body: bytes | dict[str, Any], content_type: str | None = JOSE
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {} if content_type is None else {"Content-Type": content_type}
    return await w.acme.http.post(url, content=content, headers=headers)


def fresh(w: World, key: PrivateKey | None = None) -> Client:
    """A client with a key no account has (or `key`)."""
    client = Client(w.acme.http, w.acme.directory_url, directory=w.dir)
    if key is not None:
        client.key = key
    return client


Send = Callable[[World], Awaitable[httpx.Response]]
CASES: list[Case[World]] = []


def simple(name: str, status: int, kind: str, send: Send) -> None:
    CASES.append(Case(name, send, status, kind))


async def send(
    w: World,
    url: str,
    payload: Any = None,
    *,
    client: Client | None = None,
    content_type: str | None = JOSE,
    mutate: Callable[[dict[str, str]], None] | None = None,
    **options: Any,
) -> httpx.Response:
    """Sign (as `client`, account a by default) and POST; `mutate` edits the finished JWS."""
    body = await signed(client or w.a, url, payload, **options)
    if mutate is not None:
        mutate(body)
    return await post_body(w, url, body, content_type)


def setting(member: str, value: str) -> Callable[[dict[str, str]], None]:
    def mutate(body: dict[str, str]) -> None:
        body[member] = value

    return mutate


def appending(member: str, suffix: str) -> Callable[[dict[str, str]], None]:
    def mutate(body: dict[str, str]) -> None:
        body[member] += suffix

    return mutate


def order_of(*values: str, kind: str = "dns", **extra: Any) -> dict[str, Any]:
    return {"identifiers": [{"type": kind, "value": v} for v in values], **extra}


NEW_ORDER = order_of("new.hostile.internal")
NEW_ACCOUNT = {"termsOfServiceAgreed": True}


def new_order(payload: Any, **options: Any) -> Send:
    return lambda w: send(w, w.dir["newOrder"], payload, **options)


def new_account(payload: Any, **options: Any) -> Send:
    return lambda w: send(w, w.dir["newAccount"], payload, client=fresh(w), **options)


def raw(body: bytes | dict[str, Any], content_type: str | None = JOSE) -> Send:
    return lambda w: post_body(w, w.dir["newAccount"], body, content_type)


def in_future(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat().replace("+00:00", "Z")


# --- the body and its media type (RFC 8555 §6.2) -----------------------------------------------------

simple(
    "content_type_missing",
    415,
    "malformed",
    lambda w: send(w, w.dir["newOrder"], NEW_ORDER, content_type=None),
)
simple(
    "content_type_application_json",
    415,
    "malformed",
    lambda w: send(w, w.dir["newOrder"], NEW_ORDER, content_type="application/json"),
)
simple(
    "content_type_text_plain",
    415,
    "malformed",
    lambda w: send(w, w.dir["newOrder"], NEW_ORDER, content_type="text/plain"),
)
simple(
    "content_type_jose_compact",
    415,
    "malformed",
    lambda w: send(w, w.dir["newOrder"], NEW_ORDER, content_type="application/jose"),
)
simple("body_empty", 400, "malformed", raw(b""))
simple("body_not_json", 400, "malformed", raw(b"protected=x&payload=y"))
simple("body_top_level_array", 400, "malformed", raw(b"[]"))
simple("body_top_level_string", 400, "malformed", raw(b'"protected"'))
simple("body_top_level_number", 400, "malformed", raw(b"42"))
simple("body_top_level_null", 400, "malformed", raw(b"null"))
simple("body_invalid_utf8", 400, "malformed", raw(b'{"protected":"\xff\xfe","payload":"","signature":""}'))
simple("body_lone_surrogate", 400, "malformed", raw(b'{"protected":"\\ud800","payload":"","signature":""}'))
simple("body_nested_5000_deep", 400, "malformed", raw(b"[" * 5000 + b"]" * 5000))
simple("body_over_64_kib", 413, "malformed", raw(b'{"protected":"' + b"A" * 70_000 + b'"}'))

# --- the flattened JWS members ------------------------------------------------------------------------


def without(member: str) -> Send:
    def drop(body: dict[str, str]) -> None:
        del body[member]

    return new_order(NEW_ORDER, mutate=drop)


for _member in ("protected", "payload", "signature"):
    simple(f"jws_missing_{_member}", 400, "malformed", without(_member))

simple("jws_extra_member", 400, "malformed", new_order(NEW_ORDER, mutate=setting("extra", "x")))
simple("jws_unprotected_header", 400, "malformed", new_order(NEW_ORDER, mutate=setting("header", "x")))
simple("jws_general_serialization", 400, "malformed", new_order(NEW_ORDER, mutate=setting("signatures", "x")))


def _member_not_string(body: dict[str, Any]) -> None:
    body["payload"] = {"identifiers": []}


simple("jws_payload_member_an_object", 400, "malformed", new_order(NEW_ORDER, mutate=_member_not_string))


async def _duplicate_signature(w: World) -> httpx.Response:
    body = await signed(w.a, w.dir["newOrder"], NEW_ORDER)
    text = json.dumps(body)[:-1] + ', "signature": "' + b64encode(b"\0" * 64) + '"}'
    return await post_body(w, w.dir["newOrder"], text.encode())


simple("jws_duplicate_signature_last_wins", 400, "malformed", _duplicate_signature)

# --- the protected header ------------------------------------------------------------------------------

simple("protected_not_base64url", 400, "malformed", new_order(NEW_ORDER, mutate=setting("protected", "e30!")))
simple("protected_padded_base64", 400, "malformed", new_order(NEW_ORDER, mutate=appending("protected", "==")))
simple(
    "protected_standard_base64_alphabet",
    400,
    "malformed",
    new_order(NEW_ORDER, mutate=setting("protected", "eyJ+/w")),
)
simple(
    "protected_not_json",
    400,
    "malformed",
    new_order(NEW_ORDER, mutate=setting("protected", b64encode(b"alg=ES256"))),
)
simple(
    "protected_json_array",
    400,
    "malformed",
    new_order(NEW_ORDER, mutate=setting("protected", b64encode(b"[]"))),
)
simple(
    "protected_json_string",
    400,
    "malformed",
    new_order(NEW_ORDER, mutate=setting("protected", b64encode(b'"ES256"'))),
)
simple("protected_b64_false", 400, "malformed", new_order(NEW_ORDER, header={"b64": False}))
simple("protected_crit", 400, "malformed", new_order(NEW_ORDER, header={"crit": ["exp"], "exp": 1}))
simple("alg_missing", 400, "badSignatureAlgorithm", new_order(NEW_ORDER, drop=("alg",)))
simple("alg_none", 400, "badSignatureAlgorithm", new_order(NEW_ORDER, header={"alg": "none"}))
simple("alg_hs256", 400, "badSignatureAlgorithm", new_order(NEW_ORDER, header={"alg": "HS256"}))
simple("alg_lower_case", 400, "badSignatureAlgorithm", new_order(NEW_ORDER, header={"alg": "es256"}))
simple("alg_not_a_string", 400, "badSignatureAlgorithm", new_order(NEW_ORDER, header={"alg": ["ES256"]}))
simple(
    "alg_rs256_with_an_ec_key", 400, "badSignatureAlgorithm", new_order(NEW_ORDER, header={"alg": "RS256"})
)


def duplicated(member: str, last: Callable[[World], str]) -> Send:
    """The protected header with `member` twice: RFC 7515 §4 lets a parser take the lexically last."""

    async def send_duplicated(w: World) -> httpx.Response:
        url = w.dir["newOrder"]
        members = {"alg": "ES256", "nonce": await w.a.nonce(), "url": url, "kid": w.a.kid}
        text = json.dumps(members)[:-1] + f", {json.dumps(member)}: {json.dumps(last(w))}}}"
        return await post_body(w, url, signed_text(w.a, text, NEW_ORDER))

    return send_duplicated


simple("alg_duplicate_last_is_none", 400, "badSignatureAlgorithm", duplicated("alg", lambda w: "none"))
simple(
    "url_duplicate_last_is_wrong", 403, "unauthorized", duplicated("url", lambda w: w.dir["newOrder"] + "x")
)

# --- key: jwk or kid (§6.2) ----------------------------------------------------------------------------


async def _jwk_and_kid(w: World) -> httpx.Response:
    return await send(w, w.dir["newOrder"], NEW_ORDER, header={"jwk": w.a.jwk})


simple("jwk_and_kid_both", 400, "malformed", _jwk_and_kid)
simple("neither_jwk_nor_kid", 400, "malformed", new_order(NEW_ORDER, drop=("kid",)))
simple(
    "kid_on_new_account",
    400,
    "malformed",
    lambda w: send(w, w.dir["newAccount"], NEW_ACCOUNT, header={"kid": w.a.kid}, drop=("jwk",), use_jwk=True),
)
simple("jwk_on_new_order", 400, "malformed", new_order(NEW_ORDER, use_jwk=True))
simple(
    "kid_unknown_account",
    400,
    "accountDoesNotExist",
    lambda w: send(w, w.dir["newOrder"], NEW_ORDER, header={"kid": w.url("account/no-such-account")}),
)
simple("kid_not_an_account_url", 400, "accountDoesNotExist", new_order(NEW_ORDER, header={"kid": "1"}))
simple(
    "kid_of_another_host",
    400,
    "accountDoesNotExist",
    lambda w: send(
        w, w.dir["newOrder"], NEW_ORDER, header={"kid": str(w.a.kid).replace("127.0.0.1", "evil.example")}
    ),
)
simple("kid_not_a_string", 400, "accountDoesNotExist", new_order(NEW_ORDER, header={"kid": 7}))
simple(
    "kid_of_another_account",
    400,
    "malformed",
    lambda w: send(w, w.dir["newOrder"], NEW_ORDER, header={"kid": w.b.kid}),
)
simple(
    "kid_of_a_deactivated_account",
    401,
    "unauthorized",
    lambda w: send(w, w.dir["newOrder"], NEW_ORDER, client=w.gone),
)
simple(
    "jwk_symmetric_oct",
    400,
    "badPublicKey",
    new_account(NEW_ACCOUNT, header={"jwk": {"kty": "oct", "k": b64encode(b"secret")}}),
)
simple(
    "jwk_with_private_member",
    400,
    "badPublicKey",
    lambda w: send(
        w,
        w.dir["newAccount"],
        NEW_ACCOUNT,
        client=fresh(w),
        header={"jwk": {**fresh(w).jwk, "d": b64encode(b"\1" * 32)}},
    ),
)
simple("jwk_not_an_object", 400, "badPublicKey", new_account(NEW_ACCOUNT, header={"jwk": "ES256"}))


async def _weak_rsa_account(w: World) -> httpx.Response:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    numbers = key.public_key().public_numbers()
    weak = {"kty": "RSA", "n": b64encode(numbers.n.to_bytes(128, "big")), "e": b64encode(b"\x01\x00\x01")}
    client = fresh(w, key)
    body = jws(
        key,
        "RS256",
        {
            "alg": "RS256",
            "nonce": await client.nonce(),
            "url": w.dir["newAccount"],
            "jwk": weak,
        },
        _body(NEW_ACCOUNT),
    )
    return await post_body(w, w.dir["newAccount"], body)


simple("jwk_rsa_1024_bits", 400, "badPublicKey", _weak_rsa_account)

# --- url (§6.4) ----------------------------------------------------------------------------------------

simple("url_missing", 400, "malformed", new_order(NEW_ORDER, drop=("url",)))
simple("url_not_a_string", 400, "malformed", new_order(NEW_ORDER, header={"url": ["x"]}))
simple(
    "url_of_another_resource",
    403,
    "unauthorized",
    lambda w: send(w, w.dir["newOrder"], NEW_ORDER, header={"url": w.dir["newAccount"]}),
)
simple(
    "url_with_query",
    403,
    "unauthorized",
    lambda w: send(w, w.dir["newOrder"], NEW_ORDER, header={"url": w.dir["newOrder"] + "?x=1"}),
)
simple(
    "url_with_fragment",
    403,
    "unauthorized",
    lambda w: send(w, w.dir["newOrder"], NEW_ORDER, header={"url": w.dir["newOrder"] + "#x"}),
)
simple(
    "url_of_another_host",
    403,
    "unauthorized",
    lambda w: send(
        w,
        w.dir["newOrder"],
        NEW_ORDER,
        header={"url": w.dir["newOrder"].replace("127.0.0.1", "evil.example")},
    ),
)
simple(
    "url_http_instead_of_https",
    403,
    "unauthorized",
    lambda w: send(
        w, w.dir["newOrder"], NEW_ORDER, header={"url": w.dir["newOrder"].replace("https", "http")}
    ),
)
simple(
    "url_with_homoglyph_in_path",
    403,
    "unauthorized",
    lambda w: send(
        w, w.dir["newOrder"], NEW_ORDER, header={"url": w.dir["newOrder"].replace("new", "n\u0435w")}
    ),
)


async def _request_query_not_signed(w: World) -> httpx.Response:
    body = await signed(w.a, w.dir["newOrder"], NEW_ORDER)
    return await post_body(w, w.dir["newOrder"] + "?x=1", body)


simple("request_query_not_in_signed_url", 403, "unauthorized", _request_query_not_signed)

# --- nonce (§6.5) --------------------------------------------------------------------------------------

simple("nonce_missing", 400, "badNonce", new_order(NEW_ORDER, drop=("nonce",)))
simple("nonce_empty", 400, "badNonce", new_order(NEW_ORDER, header={"nonce": ""}))
simple("nonce_not_a_string", 400, "badNonce", new_order(NEW_ORDER, header={"nonce": 12345}))
simple(
    "nonce_unknown",
    400,
    "badNonce",
    new_order(NEW_ORDER, header={"nonce": b64encode(secrets.token_bytes(32))}),
)
simple("nonce_not_base64url", 400, "badNonce", new_order(NEW_ORDER, header={"nonce": "not a nonce!"}))


async def _nonce_reused(w: World, respell: Callable[[str], str] = lambda n: n) -> httpx.Response:
    nonce = await w.a.nonce()
    assert w.a.kid is not None
    assert (await w.a.post(w.a.kid, nonce=nonce)).status_code == 200  # POST-as-GET: uses the nonce
    return await send(w, w.dir["newOrder"], NEW_ORDER, header={"nonce": respell(nonce)})


simple("nonce_reused", 400, "badNonce", _nonce_reused)
simple("nonce_reused_with_padding", 400, "badNonce", lambda w: _nonce_reused(w, lambda n: n + "=="))
simple("nonce_reused_with_whitespace", 400, "badNonce", lambda w: _nonce_reused(w, lambda n: f" {n}\n"))

# --- signature and payload encoding --------------------------------------------------------------------

simple("signature_empty", 400, "malformed", new_order(NEW_ORDER, mutate=setting("signature", "")))
simple("signature_not_base64url", 400, "malformed", new_order(NEW_ORDER, mutate=setting("signature", "!!!!")))
simple("signature_padded", 400, "malformed", new_order(NEW_ORDER, mutate=appending("signature", "==")))
simple(
    "signature_of_another_payload",
    400,
    "malformed",
    new_order(NEW_ORDER, mutate=setting("payload", b64encode(_body(order_of("other.hostile.internal"))))),
)
simple(
    "signature_by_another_key",
    400,
    "malformed",
    lambda w: send(w, w.dir["newOrder"], NEW_ORDER, key=generate_key(KeyAlgorithm.EC_prime256v1)),
)


async def _payload_not_base64url(w: World) -> httpx.Response:
    url = w.dir["newOrder"]
    protected = json.dumps({"alg": "ES256", "nonce": await w.a.nonce(), "url": url, "kid": w.a.kid})
    return await post_body(w, url, signed_text(w.a, protected, payload_b64="e30!"))


simple("payload_not_base64url", 400, "malformed", _payload_not_base64url)
simple("payload_not_json", 400, "malformed", new_order(b"identifiers=dns:x"))
simple("payload_json_array", 400, "malformed", new_order([NEW_ORDER]))
simple("payload_json_string", 400, "malformed", new_order("new.hostile.internal"))
simple("payload_json_null", 400, "malformed", new_order(b"null"))
simple("payload_nested_100_deep", 400, "malformed", new_order(b'{"a":' * 100 + b"1" + b"}" * 100))
simple(
    "payload_lone_surrogate",
    400,
    "malformed",
    new_order(b'{"identifiers":[{"type":"dns","value":"\\udc00"}]}'),
)
simple("new_order_post_as_get", 400, "malformed", new_order(None))

# --- accounts (§7.3) -----------------------------------------------------------------------------------


def contact(*contacts: Any) -> Send:
    return new_account({**NEW_ACCOUNT, "contact": list(contacts)})


simple("contact_tel_scheme", 400, "unsupportedContact", contact("tel:+15555550100"))
simple("contact_https_scheme", 400, "unsupportedContact", contact("https://example.internal/ops"))
simple("contact_no_scheme", 400, "unsupportedContact", contact("ops@example.internal"))
simple("contact_mailto_without_address", 400, "invalidContact", contact("mailto:"))
simple("contact_mailto_with_hfields", 400, "invalidContact", contact("mailto:ops@example.internal?cc=x@evil"))
simple(
    "contact_mailto_two_addresses",
    400,
    "invalidContact",
    contact("mailto:a@example.internal,b@example.internal"),
)
simple("contact_mailto_not_an_address", 400, "invalidContact", contact("mailto:not-an-address"))
simple(
    "contact_mailto_right_to_left_override",
    400,
    "invalidContact",
    contact("mailto:ops\u202e@example.internal"),
)
simple(
    "contact_over_330_characters", 400, "invalidContact", contact("mailto:" + "a" * 320 + "@example.internal")
)
simple(
    "contact_eleven_contacts",
    400,
    "malformed",
    contact(*(f"mailto:o{i}@example.internal" for i in range(11))),
)
simple(
    "contact_not_an_array",
    400,
    "malformed",
    new_account({**NEW_ACCOUNT, "contact": "mailto:o@example.internal"}),
)
simple("contact_item_not_a_string", 400, "malformed", contact(["mailto:o@example.internal"]))
simple("terms_agreed_not_a_boolean", 400, "malformed", new_account({"termsOfServiceAgreed": "yes"}))
simple(
    "only_return_existing_unknown_key",
    400,
    "accountDoesNotExist",
    new_account({**NEW_ACCOUNT, "onlyReturnExisting": True}),
)
simple(
    "only_return_existing_not_a_boolean",
    400,
    "malformed",
    new_account({**NEW_ACCOUNT, "onlyReturnExisting": 1}),
)
simple("new_account_post_as_get", 400, "malformed", new_account(None))
simple("new_account_payload_array", 400, "malformed", new_account([NEW_ACCOUNT]))


def with_binding(make: Callable[[World, Client], dict[str, Any] | str]) -> Send:
    async def send_binding(w: World) -> httpx.Response:
        client = fresh(w)
        payload = {**NEW_ACCOUNT, "externalAccountBinding": make(w, client)}
        return await send(w, w.dir["newAccount"], payload, client=client)

    return send_binding


def _other_hmac() -> str:
    return b64encode(secrets.token_bytes(32))


simple("eab_not_an_object", 400, "malformed", with_binding(lambda w, c: "binding"))
simple(
    "eab_missing_signature",
    400,
    "malformed",
    with_binding(
        lambda w, c: {k: v for k, v in binding(c, w.eab_kid, w.eab_hmac).items() if k != "signature"}
    ),
)
simple(
    "eab_alg_rs256",
    400,
    "malformed",
    with_binding(lambda w, c: binding(c, w.eab_kid, w.eab_hmac, header={"alg": "RS256"})),
)
simple(
    "eab_alg_none",
    400,
    "malformed",
    with_binding(lambda w, c: binding(c, w.eab_kid, w.eab_hmac, header={"alg": "none"})),
)
simple(
    "eab_with_nonce",
    400,
    "malformed",
    with_binding(lambda w, c: binding(c, w.eab_kid, w.eab_hmac, header={"nonce": "x"})),
)
simple("eab_without_kid", 400, "malformed", with_binding(lambda w, c: binding(c, "", w.eab_hmac)))
simple(
    "eab_payload_not_a_jwk",
    400,
    "malformed",
    with_binding(lambda w, c: binding(c, w.eab_kid, w.eab_hmac, jwk={"kty": "oct", "k": "AA"})),
)
simple(
    "eab_unknown_kid",
    403,
    "unauthorized",
    with_binding(lambda w, c: binding(c, "no-such-kid", _other_hmac())),
)
simple(
    "eab_wrong_hmac_key", 403, "unauthorized", with_binding(lambda w, c: binding(c, w.eab_kid, _other_hmac()))
)
simple(
    "eab_url_of_another_resource",
    403,
    "unauthorized",
    with_binding(lambda w, c: binding(c, w.eab_kid, w.eab_hmac, url=w.dir["newOrder"])),
)
simple(
    "eab_binds_another_key",
    403,
    "unauthorized",
    with_binding(lambda w, c: binding(c, w.eab_kid, w.eab_hmac, jwk=fresh(w).jwk)),
)


def account_post(
    payload: Any, *, target: Callable[[World], str] = lambda w: str(w.a.kid), **options: Any
) -> Send:
    return lambda w: send(w, target(w), payload, **options)


simple("account_status_valid", 400, "malformed", account_post({"status": "valid"}))
simple("account_status_revoked", 400, "malformed", account_post({"status": "revoked"}))
simple(
    "account_update_contact_tel", 400, "unsupportedContact", account_post({"contact": ["tel:+15555550100"]})
)
simple("account_update_contact_not_an_array", 400, "malformed", account_post({"contact": {"mailto": "o@x"}}))
simple("account_of_another_account", 403, "unauthorized", account_post(None, target=lambda w: str(w.b.kid)))
simple(
    "account_deactivate_another_account",
    403,
    "unauthorized",
    account_post({"status": "deactivated"}, target=lambda w: str(w.b.kid)),
)
simple("account_unknown_id", 403, "unauthorized", account_post(None, target=lambda w: w.url("account/nope")))
simple("account_payload_array", 400, "malformed", account_post([{"status": "deactivated"}]))
simple(
    "orders_list_of_another_account",
    403,
    "unauthorized",
    account_post(None, target=lambda w: f"{w.b.kid}/orders"),
)
simple("orders_list_with_a_payload", 400, "malformed", account_post({}, target=lambda w: f"{w.a.kid}/orders"))

# --- keyChange (§7.3.5) --------------------------------------------------------------------------------


def inner(
    w: World,
    new_key: PrivateKey | None = None,
    *,
    header: dict[str, Any] | None = None,
    payload: Any = None,
    signer: PrivateKey | None = None,
) -> dict[str, str]:
    new_key = new_key or generate_key(KeyAlgorithm.EC_prime256v1)
    protected = {"alg": "ES256", "url": w.dir["keyChange"], "jwk": jwk_of(new_key.public_key()).to_json()}
    protected.update(header or {})
    change = payload if payload is not None else {"account": w.a.kid, "oldKey": w.a.jwk}
    return jws(signer or new_key, "ES256", protected, _body(change))


def key_change(make: Callable[[World], Any]) -> Send:
    return lambda w: send(w, w.dir["keyChange"], make(w))


simple("key_change_post_as_get", 400, "malformed", lambda w: send(w, w.dir["keyChange"], None))
simple("key_change_inner_not_a_jws", 400, "malformed", key_change(lambda w: {"account": w.a.kid}))
simple("key_change_inner_with_nonce", 400, "malformed", key_change(lambda w: inner(w, header={"nonce": "x"})))
simple(
    "key_change_inner_url_differs",
    400,
    "malformed",
    key_change(lambda w: inner(w, header={"url": w.dir["newOrder"]})),
)
simple(
    "key_change_inner_alg_none",
    400,
    "badSignatureAlgorithm",
    key_change(lambda w: inner(w, header={"alg": "none"})),
)
simple(
    "key_change_inner_without_jwk", 400, "badPublicKey", key_change(lambda w: inner(w, header={"jwk": None}))
)
simple(
    "key_change_inner_signed_by_another_key",
    400,
    "malformed",
    key_change(lambda w: inner(w, signer=generate_key(KeyAlgorithm.EC_prime256v1))),
)
simple(
    "key_change_inner_payload_not_json", 400, "malformed", key_change(lambda w: inner(w, payload=b"account"))
)
simple(
    "key_change_for_another_account",
    400,
    "malformed",
    key_change(lambda w: inner(w, payload={"account": w.b.kid, "oldKey": w.a.jwk})),
)
simple(
    "key_change_old_key_not_a_jwk",
    400,
    "malformed",
    key_change(lambda w: inner(w, payload={"account": w.a.kid, "oldKey": "ES256"})),
)
simple(
    "key_change_old_key_of_another_account",
    403,
    "unauthorized",
    key_change(lambda w: inner(w, payload={"account": w.a.kid, "oldKey": w.b.jwk})),
)
simple("key_change_to_the_same_key", 409, "malformed", key_change(lambda w: inner(w, w.a.key)))
simple("key_change_to_a_key_in_use", 409, "malformed", key_change(lambda w: inner(w, w.b.key)))

# --- newOrder identifiers, dates and replaces (§7.4, RFC 8738, RFC 9773) -------------------------------

simple("identifiers_missing", 400, "malformed", new_order({}))
simple("identifiers_empty", 400, "malformed", new_order({"identifiers": []}))
simple(
    "identifiers_an_object",
    400,
    "malformed",
    new_order({"identifiers": {"type": "dns", "value": "a.internal"}}),
)
simple("identifier_a_string", 400, "malformed", new_order({"identifiers": ["a.hostile.internal"]}))
simple(
    "identifier_value_not_a_string",
    400,
    "malformed",
    new_order({"identifiers": [{"type": "dns", "value": 7}]}),
)
simple(
    "identifiers_101", 400, "malformed", new_order(order_of(*(f"n{i}.hostile.internal" for i in range(101))))
)
simple(
    "identifier_type_email",
    400,
    "unsupportedIdentifier",
    new_order(order_of("a@hostile.internal", kind="email")),
)
simple(
    "identifier_type_upper_case",
    400,
    "unsupportedIdentifier",
    new_order(order_of("a.hostile.internal", kind="DNS")),
)
simple(
    "identifier_type_missing",
    400,
    "unsupportedIdentifier",
    new_order({"identifiers": [{"value": "a.hostile.internal"}]}),
)
for _name, _value in {
    "dns_ip_address": "10.0.0.1",
    "dns_empty": "",
    "dns_only_dots": "..",
    "dns_empty_label": "a..hostile.internal",
    "dns_two_trailing_dots": "a.hostile.internal..",
    "dns_leading_hyphen": "-a.hostile.internal",
    "dns_label_64_characters": "a" * 64 + ".hostile.internal",
    "dns_name_over_253_characters": ".".join(["a" * 60] * 5),
    "dns_wildcard_in_the_middle": "a.*.hostile.internal",
    "dns_wildcard_in_a_label": "w*.hostile.internal",
    "dns_bare_wildcard": "*",
    "dns_double_wildcard": "*.*.hostile.internal",
    "dns_underscore": "_a.hostile.internal",
    "dns_space": "a b.hostile.internal",
    "dns_nul_byte": "a\0.hostile.internal",
    "dns_slash": "a/b.hostile.internal",
    "dns_idn_right_to_left_override": "a\u202e.hostile.internal",
    "dns_a_label_not_punycode": "xn--zz.hostile.internal",
    "dns_all_numeric_last_label": "a.hostile.123",
}.items():
    simple(_name, 400, "rejectedIdentifier", new_order(order_of(_value)))
for _name, _value in {
    "ip_octet_over_255": "10.0.0.256",
    "ip_with_port": "10.0.0.1:443",
    "ip_cidr": "10.0.0.0/8",
    "ip_a_dns_name": "a.hostile.internal",
    "ip_empty": "",
}.items():
    simple(_name, 400, "rejectedIdentifier", new_order(order_of(_value, kind="ip")))
simple(
    "identifiers_two_rejected_is_compound",
    400,
    "compound",
    new_order(order_of("a..b", "-c.hostile.internal")),
)
simple("not_before_not_a_string", 400, "malformed", new_order({**NEW_ORDER, "notBefore": 1700000000}))
simple("not_before_not_rfc3339", 400, "malformed", new_order({**NEW_ORDER, "notBefore": "tomorrow"}))
simple(
    "not_before_without_time_zone",
    400,
    "malformed",
    new_order({**NEW_ORDER, "notBefore": "2030-01-01T00:00:00"}),
)
simple("not_before_year_1", 400, "malformed", new_order({**NEW_ORDER, "notBefore": "0001-01-01T00:00:00Z"}))
simple("not_before_a_year_ago", 400, "malformed", new_order({**NEW_ORDER, "notBefore": in_future(-365)}))
simple("not_before_a_year_ahead", 400, "malformed", new_order({**NEW_ORDER, "notBefore": in_future(365)}))
simple("not_after_year_9999", 400, "malformed", new_order({**NEW_ORDER, "notAfter": "9999-12-31T23:59:59Z"}))
simple(
    "not_after_before_not_before",
    400,
    "malformed",
    new_order({**NEW_ORDER, "notBefore": in_future(2), "notAfter": in_future(1)}),
)
simple("profile_unknown", 400, "invalidProfile", new_order({**NEW_ORDER, "profile": "no-such-profile"}))
simple("profile_not_a_string", 400, "malformed", new_order({**NEW_ORDER, "profile": ["default"]}))
simple("replaces_not_a_string", 400, "malformed", new_order({**NEW_ORDER, "replaces": 1}))
simple("replaces_not_a_cert_id", 400, "malformed", new_order({**NEW_ORDER, "replaces": "not-a-cert-id"}))
simple(
    "replaces_unknown_certificate",
    400,
    "malformed",
    lambda w: send(w, w.dir["newOrder"], {**NEW_ORDER, "replaces": unknown_cert_id(w)}),
)
simple(
    "replaces_certificate_of_another_account",
    400,
    "malformed",
    lambda w: send(w, w.dir["newOrder"], {**NEW_ORDER, "replaces": w.cert_id}, client=w.b),
)


def unknown_cert_id(w: World) -> str:
    """A well-formed certID with our CA's key identifier and a serial we never issued."""
    return f"{w.cert_id.split('.')[0]}.{b64encode(serial_bytes(0x0BADC0FFEE))}"


# --- orders, authorizations, challenges of another account; unknown ids (§7.5, docs/acme-divergences.md)

simple("order_of_another_account", 403, "unauthorized", lambda w: send(w, w.b_order["url"], None))
simple("order_unknown", 404, "malformed", lambda w: send(w, w.url("order/no-such-order"), None))
simple("order_with_a_payload", 400, "malformed", lambda w: send(w, w.pending["url"], {}))
simple("authz_of_another_account", 403, "unauthorized", lambda w: send(w, w.b_order["authz"], None))
simple(
    "authz_deactivate_of_another_account",
    403,
    "unauthorized",
    lambda w: send(w, w.b_order["authz"], {"status": "deactivated"}),
)
simple("authz_unknown", 404, "malformed", lambda w: send(w, w.url("authz/no-such-authz"), None))
simple("authz_status_valid", 400, "malformed", lambda w: send(w, w.pending["authz"], {"status": "valid"}))
simple("challenge_of_another_account", 403, "unauthorized", lambda w: send(w, w.b_order["challenge"], {}))
simple("challenge_unknown", 404, "malformed", lambda w: send(w, w.url("chall/no-such-challenge"), {}))
simple("challenge_payload_array", 400, "malformed", lambda w: send(w, w.pending["challenge"], []))
simple("certificate_of_another_account", 403, "unauthorized", lambda w: send(w, w.cert_url, None, client=w.b))
simple("certificate_with_a_payload", 400, "malformed", lambda w: send(w, w.cert_url, {}))
simple("certificate_unknown", 404, "malformed", lambda w: send(w, w.url("cert/no-such-cert"), None))

# --- finalize (§7.4) -----------------------------------------------------------------------------------


def finalize(make: Callable[[World], Any], order: str = "ready", client: str = "a") -> Send:
    def send_finalize(w: World) -> Awaitable[httpx.Response]:
        target = {"ready": w.ready, "pending": w.pending, "b": w.b_order}[order]
        return send(w, target["finalize"], make(w), client=getattr(w, client))

    return send_finalize


def csr(der: bytes) -> dict[str, str]:
    return {"csr": b64encode(der)}


def built_csr(names: list[x509.GeneralName], *, common_name: str | None = None, key: Any = None) -> bytes:
    key = key or generate_key(KeyAlgorithm.EC_prime256v1)
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else [])
    )
    builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=common_name is None)
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.DER)


def tampered(der: bytes) -> bytes:
    """The last byte of the signature flipped."""
    return der[:-1] + bytes([der[-1] ^ 0x01])


simple(
    "finalize_order_not_ready",
    403,
    "orderNotReady",
    finalize(lambda w: csr(csr_der("pending.hostile.internal")), order="pending"),
)
simple(
    "finalize_order_of_another_account",
    403,
    "unauthorized",
    finalize(lambda w: csr(csr_der("b.hostile.internal")), order="b"),
)
simple(
    "finalize_unknown_order",
    404,
    "malformed",
    lambda w: send(w, w.url("order/no-such-order/finalize"), csr(csr_der(READY_NAME))),
)
simple("finalize_post_as_get", 400, "malformed", finalize(lambda w: None))
simple("csr_missing", 400, "malformed", finalize(lambda w: {}))
simple("csr_not_a_string", 400, "malformed", finalize(lambda w: {"csr": [b64encode(csr_der(READY_NAME))]}))
simple(
    "csr_padded_base64", 400, "malformed", finalize(lambda w: {"csr": b64encode(csr_der(READY_NAME)) + "=="})
)
simple("csr_standard_base64", 400, "malformed", finalize(lambda w: {"csr": "MIIB+/+/"}))
simple("csr_not_der", 400, "badCSR", finalize(lambda w: csr(b"certificate signing request")))
simple(
    "csr_pem_instead_of_der",
    400,
    "badCSR",
    finalize(lambda w: csr(x509.load_der_x509_csr(csr_der(READY_NAME)).public_bytes(Encoding.PEM))),
)
simple("csr_bad_signature", 400, "badCSR", finalize(lambda w: csr(tampered(csr_der(READY_NAME)))))
simple(
    "csr_names_another_identifier",
    400,
    "badCSR",
    finalize(lambda w: csr(built_csr([x509.DNSName("other.hostile.internal")]))),
)
simple(
    "csr_names_an_extra_identifier",
    400,
    "badCSR",
    finalize(lambda w: csr(csr_der(READY_NAME, "extra.hostile.internal"))),
)
simple(
    "csr_common_name_not_in_order",
    400,
    "badCSR",
    finalize(lambda w: csr(built_csr([x509.DNSName(READY_NAME)], common_name="other.hostile.internal"))),
)
simple(
    "csr_email_san",
    400,
    "badCSR",
    finalize(lambda w: csr(built_csr([x509.DNSName(READY_NAME), x509.RFC822Name("ops@hostile.internal")]))),
)
simple("csr_with_the_account_key", 400, "badCSR", finalize(lambda w: csr(csr_der(READY_NAME, key=w.a.key))))
simple(
    "csr_rsa_1024_bits",
    400,
    "badCSR",
    finalize(
        lambda w: csr(
            built_csr(
                [x509.DNSName(READY_NAME)], key=rsa.generate_private_key(public_exponent=65537, key_size=1024)
            )
        )
    ),
)

# --- revokeCert (§7.6) ---------------------------------------------------------------------------------


def revoke(make: Callable[[World], Any], client: str = "a") -> Send:
    return lambda w: send(w, w.dir["revokeCert"], make(w), client=getattr(w, client))


def cert(w: World, **extra: Any) -> dict[str, Any]:
    return {"certificate": b64encode(w.cert_der), **extra}


def foreign_certificate() -> bytes:
    """A certificate for ISSUED_NAME that we did not issue (self-signed)."""
    pem = challenge_certificate([x509.DNSName(ISSUED_NAME)], extension_value=None).cert_pem
    return x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)


def with_reason(reason: object) -> Callable[[World], dict[str, Any]]:
    return lambda w: cert(w, reason=reason)


for _label, _reason in {
    "7": 7,
    "8": 8,
    "11": 11,
    "minus_1": -1,
    "over_64_bits": 2**70,
    "a_string": "1",
    "a_boolean": True,
    "a_float": 1.0,
}.items():
    simple(f"revoke_reason_{_label}", 400, "badRevocationReason", revoke(with_reason(_reason)))
simple("revoke_certificate_missing", 400, "malformed", revoke(lambda w: {"reason": 1}))
simple("revoke_certificate_not_base64url", 400, "malformed", revoke(lambda w: {"certificate": "MII+/"}))
simple(
    "revoke_certificate_not_der",
    400,
    "malformed",
    revoke(lambda w: {"certificate": b64encode(b"certificate")}),
)
simple(
    "revoke_certificate_we_did_not_issue",
    404,
    "malformed",
    revoke(lambda w: {"certificate": b64encode(foreign_certificate())}),
)
simple("revoke_certificate_of_another_account", 403, "unauthorized", revoke(cert, client="b"))
simple("revoke_post_as_get", 400, "malformed", revoke(lambda w: None))
simple(
    "revoke_signed_by_another_key_as_jwk",
    403,
    "unauthorized",
    lambda w: send(w, w.dir["revokeCert"], cert(w), client=fresh(w), use_jwk=True),
)

# --- renewalInfo (RFC 9773 §4) -------------------------------------------------------------------------


def renewal_info(make: Callable[[World], str]) -> Send:
    return lambda w: w.acme.http.get(w.url(f"renewal-info/{make(w)}"))


simple("ari_cert_id_without_dot", 400, "malformed", renewal_info(lambda w: w.cert_id.replace(".", "")))
simple("ari_cert_id_padded", 400, "malformed", renewal_info(lambda w: w.cert_id + "=="))
simple("ari_cert_id_standard_base64", 400, "malformed", renewal_info(lambda w: "ab+c.de+f"))
simple("ari_cert_id_empty_serial", 400, "malformed", renewal_info(lambda w: w.cert_id.split(".")[0] + "."))
simple("ari_cert_id_unknown", 404, "malformed", renewal_info(unknown_cert_id))
simple("ari_post", 405, "malformed", lambda w: w.acme.http.post(w.url(f"renewal-info/{w.cert_id}")))

# --- methods (§6.3) and paths ------------------------------------------------------------------------


def get(resource: str) -> Send:
    return lambda w: w.acme.http.get(w.dir[resource])


for _resource in ("newAccount", "newOrder", "revokeCert", "keyChange"):
    simple(f"get_{_resource}", 405, "malformed", get(_resource))
simple("get_account", 405, "malformed", lambda w: w.acme.http.get(str(w.a.kid)))
simple("get_order", 405, "malformed", lambda w: w.acme.http.get(w.pending["url"]))
simple("get_finalize", 405, "malformed", lambda w: w.acme.http.get(w.ready["finalize"]))
simple("get_authz", 405, "malformed", lambda w: w.acme.http.get(w.pending["authz"]))
simple("get_challenge", 405, "malformed", lambda w: w.acme.http.get(w.pending["challenge"]))
simple("get_certificate", 405, "malformed", lambda w: w.acme.http.get(w.cert_url))
simple("put_new_order", 405, "malformed", lambda w: w.acme.http.put(w.dir["newOrder"], content=b"{}"))
simple("delete_account", 405, "malformed", lambda w: w.acme.http.delete(str(w.a.kid)))
simple("post_unknown_path", 404, "malformed", lambda w: send(w, w.url("no-such-resource"), NEW_ORDER))
simple("post_path_traversal", 404, "malformed", lambda w: send(w, w.url("order/..%2F..%2Fdirectory"), None))


# --- the corpus ----------------------------------------------------------------------------------------


async def test_the_corpus_names_at_least_80_distinct_cases() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)) and len(names) >= 80


@pytest.mark.parametrize("hostile", CASES, ids=[c.name for c in CASES])
async def test_hostile_acme_request_is_refused_and_stores_nothing(world: World, hostile: Case[World]) -> None:
    async with unchanged(world.acme.rt.storage):
        response = await hostile.send(world)
    problem_of(response, hostile, ERR + hostile.type)
    assert response.headers["Replay-Nonce"]  # §6.5: a fresh nonce on every answer, errors included
