"""RFC 8555 §7 (resources): directory, accounts, orders, authorizations, finalize rules — each test is
named after the section whose MUST it checks, and asserts the exact status and problem type."""

from __future__ import annotations

import pytest

from acme_server.services.config import policies, profiles
from ca_core.jose import b64encode
from ca_core.keys import KeyAlgorithm, generate_key
from tests.acme.client import csr_der
from tests.acme.conftest import AcmeServer

ERR = "urn:ietf:params:acme:error:"


async def test_s7_1_1_directory_lists_every_resource_and_meta(acme: AcmeServer) -> None:
    body = (await acme.http.get(acme.directory_url)).json()
    base = f"{acme.url}/acme"
    assert body["newNonce"] == f"{base}/new-nonce"
    assert body["newAccount"] == f"{base}/new-account"
    assert body["newOrder"] == f"{base}/new-order"
    assert body["newAuthz"] == f"{base}/new-authz"
    assert body["revokeCert"] == f"{base}/revoke-cert"
    assert body["keyChange"] == f"{base}/key-change"
    assert body["meta"]["externalAccountRequired"] is False
    assert body["meta"]["profiles"] == {
        "default": "TLS server and client certificates from the dev intermediate"
    }


async def test_profile_directory_scopes_account_and_order_urls(acme: AcmeServer) -> None:
    body = (await acme.http.get(f"{acme.url}/acme/profiles/default/directory")).json()
    assert body["newOrder"] == f"{acme.url}/acme/profiles/default/new-order"
    missing = await acme.http.get(f"{acme.url}/acme/profiles/nope/directory")
    assert missing.status_code == 404


async def test_s7_3_new_account_201_then_200_for_the_same_key(acme: AcmeServer) -> None:
    client = await acme.client()
    created = await client.register(contact=["mailto:a@example.internal"])
    assert created.status_code == 201
    assert created.headers["Location"].startswith(f"{acme.url}/acme/account/")
    assert created.json()["status"] == "valid" and created.json()["contact"] == ["mailto:a@example.internal"]
    again = await client.register()
    assert again.status_code == 200 and again.headers["Location"] == created.headers["Location"]


async def test_s7_3_1_only_return_existing(acme: AcmeServer) -> None:
    client = await acme.client()
    unknown = await client.register(onlyReturnExisting=True)
    assert unknown.status_code == 400 and unknown.json()["type"] == ERR + "accountDoesNotExist"
    created = await client.register()
    found = await client.register(onlyReturnExisting=True)
    assert found.status_code == 200 and found.headers["Location"] == created.headers["Location"]


@pytest.mark.parametrize(
    ("contact", "kind"),
    [
        ("tel:+1555", "unsupportedContact"),
        ("mailto:not-an-address", "invalidContact"),
        ("mailto:a@example.com?subject=x", "invalidContact"),
    ],
)
async def test_s7_3_contacts_are_checked(acme: AcmeServer, contact: str, kind: str) -> None:
    client = await acme.client()
    response = await client.register(contact=[contact])
    assert response.status_code == 400 and response.json()["type"] == ERR + kind


async def test_s7_3_2_update_and_s7_3_6_deactivate(acme: AcmeServer) -> None:
    client = await acme.client()
    await client.register()
    assert client.kid is not None
    updated = await client.post(client.kid, {"contact": ["mailto:new@example.internal"]})
    assert updated.json()["contact"] == ["mailto:new@example.internal"]
    gone = await client.post(client.kid, {"status": "deactivated"})
    assert gone.status_code == 200 and gone.json()["status"] == "deactivated"
    after = await client.new_order("x.example.internal")
    assert after.status_code == 401 and after.json()["type"] == ERR + "unauthorized"  # §7.3.6


async def test_s7_3_5_key_change_and_conflict(acme: AcmeServer) -> None:
    client = await acme.client()
    await client.register()
    assert client.kid is not None
    new_key = generate_key(KeyAlgorithm.EC_prime256v1)
    url = client.directory["keyChange"]
    changed = await client.post(url, client.key_change(new_key))
    assert changed.status_code == 200
    client.key = new_key
    assert (await client.post(client.kid)).status_code == 200  # the new key signs for the account

    other = await acme.client()
    await other.register()
    conflict = await other.post(url, other.key_change(new_key))
    assert conflict.status_code == 409
    assert conflict.headers["Location"] == client.kid  # §7.3.5: the account that holds the key


async def test_s7_1_2_1_orders_list(acme: AcmeServer) -> None:
    client = await acme.client()
    await client.register()
    urls = [(await client.new_order(f"o{i}.example.internal")).headers["Location"] for i in range(3)]
    listed = await client.post(f"{client.kid}/orders")
    assert listed.json()["orders"] == urls


async def test_s7_4_new_order_is_201_with_authorizations_and_finalize(acme: AcmeServer) -> None:
    client = await acme.client()
    await client.register()
    response = await client.new_order("one.example.internal", "two.example.internal")
    body = response.json()
    assert response.status_code == 201 and response.headers["Location"].startswith(f"{acme.url}/acme/order/")
    assert body["status"] == "pending" and len(body["authorizations"]) == 2
    assert body["identifiers"] == [
        {"type": "dns", "value": "one.example.internal"},
        {"type": "dns", "value": "two.example.internal"},
    ]
    assert body["finalize"].endswith("/finalize")
    assert body["profile"] == "default"  # draft-ietf-acme-profiles: the profile the order uses


async def test_s7_4_invalid_names_are_rejected_with_subproblems(acme: AcmeServer) -> None:
    client = await acme.client()
    await client.register()
    response = await client.new_order("bad..name", "-leading.example", "fine.example.internal")
    body = response.json()
    assert response.status_code == 400
    assert body["type"] == ERR + "compound"
    assert [s["identifier"]["value"] for s in body["subproblems"]] == ["bad..name", "-leading.example"]
    assert all(s["type"] == ERR + "rejectedIdentifier" for s in body["subproblems"])


async def test_s7_4_policy_rejects_identifiers_per_name(acme: AcmeServer) -> None:
    await policies.update_policy(
        acme.rt, "default", {"altNames": {"dns": {"allowed": ["*.svc.example.internal"]}}}
    )
    client = await acme.client()
    await client.register()
    response = await client.new_order("api.svc.example.internal", "evil.example.com")
    body = response.json()
    assert body["type"] == ERR + "rejectedIdentifier"
    assert body["subproblems"][0]["identifier"] == {"type": "dns", "value": "evil.example.com"}


async def test_s7_4_unsupported_identifier_type(acme: AcmeServer) -> None:
    client = await acme.client()
    await client.register()
    response = await client.new_order("a@example.com", kind="email")
    assert response.json()["subproblems"][0]["type"] == ERR + "unsupportedIdentifier"


async def test_s7_4_finalize_before_ready_is_order_not_ready(acme: AcmeServer) -> None:
    client = await acme.client()
    await client.register()
    order = (await client.new_order("early.example.internal")).json()
    response = await client.post(order["finalize"], {"csr": b64encode(csr_der("early.example.internal"))})
    assert response.status_code == 403 and response.json()["type"] == ERR + "orderNotReady"


async def test_s8_wildcards_get_dns01_only_and_ips_no_dns01(acme: AcmeServer) -> None:
    client = await acme.client()
    await client.register()
    order = (await client.new_order("*.wild.example.internal")).json()
    authz = (await client.post(order["authorizations"][0])).json()
    assert [c["type"] for c in authz["challenges"]] == ["dns-01"]
    assert authz["wildcard"] is True and authz["identifier"]["value"] == "wild.example.internal"
    ip_order = (await client.new_order("10.0.0.1", kind="ip")).json()
    ip_authz = (await client.post(ip_order["authorizations"][0])).json()
    assert sorted(c["type"] for c in ip_authz["challenges"]) == ["http-01", "tls-alpn-01"]


async def test_s7_4_1_pre_authorization(acme: AcmeServer) -> None:
    client = await acme.client()
    await client.register()
    response = await client.post(
        client.directory["newAuthz"], {"identifier": {"type": "dns", "value": "pre.example.internal"}}
    )
    assert response.status_code == 201 and response.json()["status"] == "pending"
    wildcard = await client.post(
        client.directory["newAuthz"], {"identifier": {"type": "dns", "value": "*.pre.example.internal"}}
    )
    assert wildcard.status_code == 400


async def test_s7_5_2_authorization_deactivation_invalidates_the_order(acme: AcmeServer) -> None:
    client = await acme.client()
    await client.register()
    created = await client.new_order("deact.example.internal")
    order = created.json()
    gone = await client.post(order["authorizations"][0], {"status": "deactivated"})
    assert gone.json()["status"] == "deactivated"
    assert (await client.post(created.headers["Location"])).json()["status"] == "invalid"


async def test_s7_5_1_challenge_post_is_idempotent_and_failures_are_typed(acme: AcmeServer) -> None:
    client = await acme.client()
    await client.register()
    acme.resolve("nothing.example.internal")  # the responder has no token: 404
    order = (await client.new_order("nothing.example.internal")).json()
    authz = (await client.post(order["authorizations"][0])).json()
    challenge = next(c for c in authz["challenges"] if c["type"] == "http-01")
    first = await client.post(challenge["url"], {})
    second = await client.post(challenge["url"], {})
    assert first.status_code == second.status_code == 200
    from tests.acme.conftest import wait_status

    failed = await wait_status(client, challenge["url"], {"invalid", "valid"})
    assert failed["status"] == "invalid"
    assert failed["error"]["type"] == ERR + "unauthorized"  # type: ignore[index]


async def test_s7_4_csr_must_match_the_order_and_not_use_the_account_key(acme: AcmeServer) -> None:
    await profiles.get_profile(acme.rt, "default")
    from tests.acme.test_issuance_flow import _ready_order

    client, order = await _ready_order(acme, "csr.example.internal")
    wrong = await client.post(order["finalize"], {"csr": b64encode(csr_der("other.example.internal"))})
    assert wrong.status_code == 400 and wrong.json()["type"] == ERR + "badCSR"
    account_key = await client.post(
        order["finalize"], {"csr": b64encode(csr_der("csr.example.internal", key=client.key))}
    )
    assert account_key.json()["type"] == ERR + "badCSR"
    assert "account key" in account_key.json()["detail"]


@pytest.mark.parametrize("acme_overrides", [{"terms_of_service": "https://ca.example.internal/tos"}])
async def test_s7_3_terms_of_service_must_be_agreed_where_the_server_has_them(acme: AcmeServer) -> None:
    client = await acme.client()
    assert client.directory["meta"]["termsOfService"] == "https://ca.example.internal/tos"
    refused = await client.register(termsOfServiceAgreed=False)
    assert refused.status_code == 400 and refused.json()["type"] == ERR + "malformed"
    assert "terms of service" in refused.json()["detail"]
    assert (await client.register()).status_code == 201


async def test_s7_4_csr_key_the_profile_does_not_allow_is_bad_csr(acme: AcmeServer) -> None:
    from acme_server.services.config import profiles as profile_service
    from tests.acme.test_issuance_flow import _ready_order

    current = (await profile_service.get_profile(acme.rt, "default")).profile.to_document()
    await profile_service.update_profile(
        acme.rt, "default", {**current, "allowedKeyAlgorithms": ["EC_prime256v1"]}
    )
    client, order = await _ready_order(acme, "keys.example.internal")
    rsa = generate_key(KeyAlgorithm.RSA_2048)
    response = await client.post(
        order["finalize"], {"csr": b64encode(csr_der("keys.example.internal", key=rsa))}
    )
    assert response.status_code == 400
    assert response.json() == {
        "type": ERR + "badCSR",
        "detail": "the CSR key is RSA_2048; profile 'default' allows EC_prime256v1",
        "status": 400,
    }
    # refused by the pipeline's one check, before the claim: the order is still ready for a good CSR
    assert (await client.post(order["url"])).json()["status"] == "ready"
    done = await client.post(order["finalize"], {"csr": b64encode(csr_der("keys.example.internal"))})
    assert done.status_code == 200 and done.json()["status"] == "valid"


@pytest.mark.parametrize(
    "acme_overrides",
    [{"caa_identities": ("ca.example.internal",), "website": "https://ca.example.internal/"}],
)
async def test_s7_1_1_directory_meta_shows_caa_identities_and_website(acme: AcmeServer) -> None:
    meta = (await acme.http.get(acme.directory_url)).json()["meta"]
    assert meta["caaIdentities"] == ["ca.example.internal"]
    assert meta["website"] == "https://ca.example.internal/"


async def test_another_accounts_order_and_authorization_are_unauthorized(acme: AcmeServer) -> None:
    owner = await acme.client()
    await owner.register()
    created = await owner.new_order("mine.example.internal")
    order_url, authz_url = created.headers["Location"], created.json()["authorizations"][0]
    intruder = await acme.client()
    await intruder.register()
    for url, kind in ((order_url, "order"), (authz_url, "authorization")):
        response = await intruder.post(url)
        assert response.status_code == 403
        assert response.json() == {
            "type": ERR + "unauthorized",
            "detail": f"this {kind} belongs to another account",
            "status": 403,
        }
    missing = await intruder.post(f"{acme.url}/acme/order/nope")
    assert missing.status_code == 404 and missing.json()["detail"] == "no order 'nope'"
