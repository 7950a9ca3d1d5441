"""Over real HTTPS on both engines, with the real VA and a scripted DNS server on loopback: CAA account
binding (RFC 8657) and the two DNS drafts a profile may offer (dns-account-01, dns-persist-01). The
client side of the drafts is the test client's JWS POSTs: no ACME library knows them yet."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from acme_server.services.config import profiles
from acme_server.validation.dns01 import account_label
from acme_server.validation.dnspersist01 import hashed_account_uri
from ca_core.jose import b64encode
from tests.acme.client import Client
from tests.acme.conftest import AcmeServer, wait_status

CA = "ca.test"
ERR = "urn:ietf:params:acme:error:"


@pytest.fixture
def acme_overrides() -> dict[str, object]:
    return {"caa_identities": (CA,)}


async def offer(acme: AcmeServer, *types: str) -> None:
    stored = (await profiles.get_profile(acme.rt, "default")).profile.to_document()
    await profiles.update_profile(acme.rt, "default", {**stored, "challengeTypes": list(types)})


async def registered(acme: AcmeServer) -> Client:
    client = await acme.client()
    assert (await client.register()).status_code == 201
    return client


async def challenge_of(client: Client, name: str, kind: str) -> tuple[str, dict[str, Any]]:
    created = await client.new_order(name)
    assert created.status_code == 201, created.text
    authz = (await client.post(created.json()["authorizations"][0])).json()
    by_type = {c["type"]: c for c in authz["challenges"]}
    return created.headers["Location"], by_type[kind]


def dns01_value(client: Client, token: str) -> str:
    return f'"{b64encode(hashlib.sha256(client.key_authorization(token).encode()).digest())}"'


async def answer(client: Client, order_url: str, challenge: dict[str, Any]) -> dict[str, Any]:
    assert (await client.post(challenge["url"], {})).status_code == 200
    await wait_status(client, order_url, {"ready", "invalid"})
    return dict((await client.post(challenge["url"])).json())


async def test_rfc8657_s3_caa_accounturi_authorizes_the_matching_account_only(acme: AcmeServer) -> None:
    mine, theirs = await registered(acme), await registered(acme)
    assert mine.kid is not None
    acme.dns.add("bound.example.test", "CAA", f'0 issue "{CA}; accounturi={mine.kid}"')
    acme.resolve("bound.example.test")
    results = []
    for client in (mine, theirs):
        order_url, challenge = await challenge_of(client, "bound.example.test", "http-01")
        acme.serve_http01(client, challenge["token"])
        results.append(await answer(client, order_url, challenge))

    assert results[0]["status"] == "valid", results[0]
    assert results[1]["status"] == "invalid"
    assert results[1]["error"]["type"] == ERR + "caa"


async def test_rfc8657_s4_validationmethods_dns01_refuses_an_http01_validation(acme: AcmeServer) -> None:
    client = await registered(acme)
    acme.resolve("methods.example.test")
    acme.dns.add("methods.example.test", "CAA", f'0 issue "{CA}; validationmethods=dns-01"')
    order_url, challenge = await challenge_of(client, "methods.example.test", "http-01")
    acme.serve_http01(client, challenge["token"])

    result = await answer(client, order_url, challenge)

    assert result["status"] == "invalid"
    assert result["error"] == {
        "type": ERR + "caa",
        "detail": "CAA record for methods.example.test prevents issuance for methods.example.test:"
        " no issue property authorizes this CA",
        "status": 400,
    }


async def test_default_profile_offers_neither_draft(acme: AcmeServer) -> None:
    client = await registered(acme)
    created = await client.new_order("plain.example.test")
    authz = (await client.post(created.json()["authorizations"][0])).json()

    assert sorted(c["type"] for c in authz["challenges"]) == ["dns-01", "http-01", "tls-alpn-01"]


async def test_dns_account_01_offered_by_the_profile_validates_at_the_account_label(acme: AcmeServer) -> None:
    await offer(acme, "dns-account-01")
    client = await registered(acme)
    assert client.kid is not None
    order_url, challenge = await challenge_of(client, "acct.example.test", "dns-account-01")
    name = f"{account_label(client.kid)}._acme-challenge.acct.example.test"
    acme.dns.add(name, "TXT", dns01_value(client, challenge["token"]))

    result = await answer(client, order_url, challenge)

    assert result["status"] == "valid", result


async def test_dns_persist_01_challenge_object_directory_meta_and_validation(acme: AcmeServer) -> None:
    await offer(acme, "dns-persist-01")
    client = await registered(acme)
    assert client.kid is not None
    meta = client.directory["meta"]
    order_url, challenge = await challenge_of(client, "persist.example.test", "dns-persist-01")
    hashed = hashed_account_uri(
        meta["accountHashPrefix"], "persist.example.test", client.thumbprint, client.kid
    )
    acme.dns.add("_validation-persist.persist.example.test", "TXT", f'"{CA}; accounturi={hashed}"')

    result = await answer(client, order_url, challenge)

    assert meta["issuerDomainNames"] == [CA]
    assert meta["accountHashPrefix"] == f"{acme.url}/acme/account-hash/"
    assert set(challenge) == {"type", "url", "status", "issuerDomainNames"}
    assert challenge["issuerDomainNames"] == [CA]
    assert result["status"] == "valid", result


async def test_dns_persist_01_record_of_another_account_is_unauthorized(acme: AcmeServer) -> None:
    await offer(acme, "dns-persist-01")
    client = await registered(acme)
    order_url, challenge = await challenge_of(client, "other.example.test", "dns-persist-01")
    acme.dns.add(
        "_validation-persist.other.example.test", "TXT", f'"{CA}; accounturi={acme.url}/acme/account/x"'
    )

    result = await answer(client, order_url, challenge)

    assert result["status"] == "invalid"
    assert result["error"]["type"] == ERR + "unauthorized"


async def test_an_identifier_no_offered_type_can_validate_is_refused_at_new_order(acme: AcmeServer) -> None:
    await offer(acme, "http-01")
    client = await registered(acme)

    refused = await client.new_order("*.wild.example.test")

    assert refused.status_code == 400
    assert refused.json()["type"] == ERR + "rejectedIdentifier"
    assert refused.json()["detail"] == (
        "profile 'default' offers no challenge type that can validate *.wild.example.test (http-01)"
    )
