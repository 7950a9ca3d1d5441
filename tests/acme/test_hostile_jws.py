"""Hostile JWS input (issue 10): respelled nonces, deep JSON, huge bodies, paged URLs with a query and
deactivated accounts. Each test is the regression test of one defect and asserts the exact wire output
and that nothing was stored."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from ca_core.jose import b64encode, jwk_of
from ca_core.keys import KeyAlgorithm, generate_key
from tests.acme.client import Client, jws
from tests.acme.conftest import AcmeServer

ERR = "urn:ietf:params:acme:error:"
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def problem(response: object) -> tuple[int, str]:
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    return response.status_code, str(response.json()["type"])  # type: ignore[attr-defined]


async def post_raw(client: Client, url: str, body: bytes | dict[str, str]) -> object:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.http.post(url, content=content, headers={"Content-Type": "application/jose+json"})


def trailing_bits(nonce: str) -> str:
    """The same bytes under a lenient decoder: the last character with its unused low bits set."""
    unused = {2: 4, 3: 2}[len(nonce) % 4]  # characters of a 1- or 2-byte tail carry 4 or 2 spare bits
    index = B64URL.index(nonce[-1]) | ((1 << unused) - 1)
    return nonce[:-1] + B64URL[index]


RESPELLINGS = {
    "padding": lambda n: n + "=" * (-len(n) % 4 or 4),
    "dots": lambda n: n + "....",
    "plus_slash": lambda n: n.replace("-", "+").replace("_", "/"),
    "whitespace": lambda n: n[:10] + "\n" + n[10:],
    "trailing_bits": trailing_bits,
}


async def nonce_with_dash_or_underscore(client: Client) -> str:
    for _ in range(200):
        nonce = await client.nonce()
        if "-" in nonce or "_" in nonce:
            return nonce
    raise AssertionError("no nonce with - or _ in 200 tries")


@pytest.mark.parametrize("respell", list(RESPELLINGS))
async def test_rfc8555_6_5_1_nonce_replay_respelled_is_bad_nonce(acme: AcmeServer, respell: str) -> None:
    """§6.5.1/RFC 7515 §2: base64url is decoded strictly and a used nonce is keyed by its value, so
    re-sending it spelled differently (padding, junk, +/, whitespace, trailing bits) is badNonce."""
    client = await acme.client()
    await client.register()
    assert client.kid is not None
    nonce = await nonce_with_dash_or_underscore(client)
    first = await client.post(client.kid, {"contact": ["mailto:first@example.internal"]}, nonce=nonce)
    assert first.status_code == 200
    respelled = RESPELLINGS[respell](nonce)
    assert respelled != nonce
    replay = await client.post(client.kid, {"contact": ["mailto:replay@example.internal"]}, nonce=respelled)
    assert problem(replay) == (400, ERR + "badNonce")
    async with acme.rt.storage.read() as tx:
        record = await tx.accounts.get(client.kid.rsplit("/", 1)[1])
    assert record is not None and list(record.contacts) == ["mailto:first@example.internal"]


@pytest.mark.parametrize(
    "field", ["protected", "payload", "signature"], ids=["protected", "payload", "signature"]
)
async def test_rfc7515_2_jws_parts_must_be_canonical_base64url(acme: AcmeServer, field: str) -> None:
    client = await acme.client()
    url = client.directory["newAccount"]
    protected = {"alg": "ES256", "nonce": await client.nonce(), "url": url, "jwk": client.jwk}
    signed = jws(client.key, "ES256", protected, json.dumps({"termsOfServiceAgreed": True}).encode())
    signed[field] = signed[field] + "=="
    response = await post_raw(client, url, signed)
    assert problem(response) == (400, ERR + "malformed")
    async with acme.rt.storage.read() as tx:
        assert await tx.accounts.get_by_thumbprint(client.thumbprint) is None


def deep_list(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def deep_object(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize(
    "header", [deep_list(5_000), deep_object(5_000), deep_list(17)], ids=["lists", "objects", "depth17"]
)
async def test_rfc8555_6_2_deep_protected_header_is_malformed_not_500(
    acme: AcmeServer, header: bytes
) -> None:
    client = await acme.client()
    url = client.directory["newAccount"]
    body = {"protected": b64encode(header), "payload": "", "signature": "AA"}
    response = await post_raw(client, url, body)
    assert problem(response) == (400, ERR + "malformed")


async def test_rfc8555_6_2_deep_payload_is_malformed_not_500(acme: AcmeServer) -> None:
    client = await acme.client()
    await client.register()
    url = client.directory["newOrder"]
    protected = {"alg": "ES256", "nonce": await client.nonce(), "url": url, "kid": client.kid}
    response = await post_raw(client, url, jws(client.key, "ES256", protected, deep_object(5_000)))
    assert problem(response) == (400, ERR + "malformed")


async def test_rfc8555_7_3_4_deep_eab_inner_jws_is_malformed_and_stores_nothing(acme: AcmeServer) -> None:
    client = await acme.client()
    inner = {"protected": b64encode(deep_list(5_000)), "payload": b64encode(b"{}"), "signature": "AA"}
    response = await client.register(externalAccountBinding=inner)
    assert problem(response) == (400, ERR + "malformed")
    async with acme.rt.storage.read() as tx:
        assert await tx.accounts.get_by_thumbprint(client.thumbprint) is None


@pytest.mark.parametrize("part", ["protected", "payload"])
async def test_rfc8555_7_3_5_deep_key_change_inner_jws_is_malformed_and_keeps_the_key(
    acme: AcmeServer, part: str
) -> None:
    client = await acme.client()
    await client.register()
    url = client.directory["keyChange"]
    new_key = generate_key(KeyAlgorithm.EC_prime256v1)
    new_jwk = jwk_of(new_key.public_key()).to_json()
    inner = jws(new_key, "ES256", {"alg": "ES256", "url": url, "jwk": new_jwk}, b"{}")
    inner[part] = b64encode(deep_object(5_000))
    response = await client.post(url, inner)
    assert problem(response) == (400, ERR + "malformed")
    async with acme.rt.storage.read() as tx:
        assert await tx.accounts.get_by_thumbprint(client.thumbprint) is not None


async def test_rfc8555_6_2_oversized_body_is_refused_on_content_length(acme: AcmeServer) -> None:
    """A body over 64 KiB is refused from its Content-Length, before it is read: 413 malformed."""
    client = await acme.client()
    body = {"protected": b64encode(deep_list(100_000)), "payload": "", "signature": "AA"}
    response = await post_raw(client, client.directory["newAccount"], body)
    assert problem(response) == (413, ERR + "malformed")


async def test_rfc8555_6_2_oversized_chunked_body_is_refused_while_reading(acme: AcmeServer) -> None:
    """No Content-Length (chunked): the server stops reading once the body passes the cap."""
    client = await acme.client()

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"protected":"'
        for _ in range(8):
            yield b"A" * 16_384

    response = await client.http.post(
        client.directory["newAccount"], content=chunks(), headers={"Content-Type": "application/jose+json"}
    )
    assert problem(response) == (413, ERR + "malformed")


async def test_rfc8555_6_4_signing_the_next_link_with_its_query_pages_the_orders(acme: AcmeServer) -> None:
    """§6.4 + §7.1.2.1: the JWS url is the full request URL, query included (the Link rel="next"
    URL as given); the path alone no longer matches."""
    client = await acme.client()
    account = (await client.register()).json()
    acme.resolve("page.example.internal")
    order = await client.new_order("page.example.internal")
    assert order.status_code == 201
    next_url = f"{account['orders']}?cursor={order.headers['Location'].rsplit('/', 1)[1]}"
    page = await client.post(next_url)
    assert page.status_code == 200 and page.json() == {"orders": []}
    path_only = await client.post(next_url, header_url=account["orders"])
    assert problem(path_only) == (403, ERR + "unauthorized")


async def deactivated(acme: AcmeServer) -> Client:
    client = await acme.client()
    await client.register()
    assert client.kid is not None
    gone = await client.post(client.kid, {"status": "deactivated"})
    assert gone.status_code == 200
    return client


async def test_rfc8555_7_3_6_deactivated_account_post_as_get_is_401(acme: AcmeServer) -> None:
    client = await deactivated(acme)
    assert client.kid is not None
    response = await client.post(client.kid)
    assert problem(response) == (401, ERR + "unauthorized")


@pytest.mark.parametrize("only_return_existing", [True, False])
async def test_rfc8555_7_3_6_deactivated_account_key_on_new_account_is_401(
    acme: AcmeServer, only_return_existing: bool
) -> None:
    client = await deactivated(acme)
    payload = {"termsOfServiceAgreed": True, "onlyReturnExisting": only_return_existing}
    response = await client.post(client.directory["newAccount"], payload, use_jwk=True)
    assert problem(response) == (401, ERR + "unauthorized")
    async with acme.rt.storage.read() as tx:
        record = await tx.accounts.get_by_thumbprint(client.thumbprint)
    assert record is not None and record.status == "deactivated"
