"""RFC 8555 §7.3.4 external account binding over real HTTPS on both engines: the binding JWS, the
problem each broken binding gets, per-profile directories that require EAB, keys made for one profile,
and the account look-ups cert-manager depends on."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from acme_server.errors import Conflict, NotFound
from acme_server.services.acme import accounts, eab
from acme_server.services.config import profiles
from ca_core.jose import b64decode, b64encode, jwk_of
from ca_core.keys import KeyAlgorithm, generate_key
from tests.acme.client import Client
from tests.acme.conftest import AcmeServer

ERR = "urn:ietf:params:acme:error:"


# --- helpers of this module ----------------------------------------------------------------------------


def binding(
    client: Client,
    kid: str,
    hmac_key: str,
    *,
    url: str | None = None,
    jwk: dict[str, str] | None = None,
    header: dict[str, Any] | None = None,
) -> dict[str, str]:
    """The externalAccountBinding a client sends (§7.3.4): HS256 over the account JWK, kid, url =
    the newAccount URL. Each keyword breaks one part on purpose."""
    protected = {"alg": "HS256", "kid": kid, "url": url or client.directory["newAccount"], **(header or {})}
    protected_b64 = b64encode(json.dumps(protected).encode())
    payload_b64 = b64encode(json.dumps(jwk or client.jwk).encode())
    mac = hmac.new(b64decode(hmac_key), f"{protected_b64}.{payload_b64}".encode(), hashlib.sha256)
    return {"protected": protected_b64, "payload": payload_b64, "signature": b64encode(mac.digest())}


async def profile_client(acme: AcmeServer, profile: str) -> Client:
    """A client of one profile's directory (/acme/profiles/NAME/directory)."""
    return await Client(acme.http, f"{acme.url}/acme/profiles/{profile}/directory").load()


async def make_profile(acme: AcmeServer, name: str, **document: Any) -> None:
    await profiles.create_profile(acme.rt, name, {"caId": "dev-intermediate", **document})


def problem(kind: str, detail: str, status: int) -> dict[str, Any]:
    return {"type": ERR + kind, "detail": detail, "status": status}


async def key_state(acme: AcmeServer, kid: str) -> eab.EABKey:
    (key,) = [k for k in await eab.list_eab_keys(acme.rt) if k.kid == kid]
    return key


# --- §7.3.4 the binding ------------------------------------------------------------------------------


async def test_s7_3_4_binding_creates_the_account_and_binds_the_key(acme: AcmeServer) -> None:
    kid, hmac_key = await eab.create_eab_key(acme.rt, None)
    client = await acme.client()
    created = await client.register(externalAccountBinding=binding(client, kid, hmac_key))
    assert created.status_code == 201
    location = created.headers["Location"]
    assert created.json() == {
        "status": "valid",
        "contact": [],
        "termsOfServiceAgreed": True,
        "orders": f"{location}/orders",
    }
    key = await key_state(acme, kid)
    assert key.account_count == 1 and [b.account_id for b in key.bindings] == [location.rsplit("/", 1)[1]]
    account = await accounts.get_account(acme.rt, location.rsplit("/", 1)[1])
    assert account.eab_kid == kid


async def test_s7_3_4_binding_is_optional_where_not_required(acme: AcmeServer) -> None:
    client = await acme.client()
    assert (await client.register()).status_code == 201


BROKEN_BINDINGS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "wrong MAC",
        {"hmac_key": b64encode(b"\x01" * 32)},
        problem("unauthorized", "the external account binding MAC does not verify", 403),
    ),
    (
        "unknown kid",
        {"kid": "no-such-kid"},
        problem("unauthorized", "unknown external account key 'no-such-kid'", 403),
    ),
    (
        "url is not the newAccount URL",
        {"url": "https://elsewhere.example/acme/new-account"},
        problem("unauthorized", "externalAccountBinding url does not match the newAccount URL", 403),
    ),
    (
        "binds a different key",
        {"jwk": jwk_of(generate_key(KeyAlgorithm.EC_prime256v1).public_key()).to_json()},
        problem("unauthorized", "externalAccountBinding binds a different key than the request's", 403),
    ),
    (
        "alg is not HS256",
        {"header": {"alg": "HS512"}},
        problem("malformed", "externalAccountBinding must use alg HS256", 400),
    ),
    (
        "carries a nonce",
        {"header": {"nonce": "abc"}},
        problem("malformed", "externalAccountBinding must not carry a nonce (RFC 8555 §7.3.4)", 400),
    ),
    (
        "has no kid",
        {"header": {"kid": ""}},
        problem("malformed", "externalAccountBinding needs the kid of the external account key", 400),
    ),
]


@pytest.mark.parametrize(
    ("change", "expected"), [case[1:] for case in BROKEN_BINDINGS], ids=[case[0] for case in BROKEN_BINDINGS]
)
async def test_s7_3_4_a_broken_binding_gets_its_problem_and_no_account(
    acme: AcmeServer, change: dict[str, Any], expected: dict[str, Any]
) -> None:
    kid, hmac_key = await eab.create_eab_key(acme.rt, None)
    client = await acme.client()
    arguments: dict[str, Any] = {"kid": kid, "hmac_key": hmac_key, **change}
    response = await client.register(
        externalAccountBinding=binding(
            client,
            arguments.pop("kid"),
            arguments.pop("hmac_key"),
            **arguments,
        )
    )
    assert (response.status_code, response.headers["Content-Type"]) == (
        expected["status"],
        "application/problem+json",
    )
    assert response.json() == expected
    assert (await key_state(acme, kid)).bindings == ()
    missing = await client.register(onlyReturnExisting=True)
    assert missing.json()["type"] == ERR + "accountDoesNotExist"


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("not-an-object", "externalAccountBinding must be a JWS object"),
        (
            {"protected": "e30", "payload": 7, "signature": ""},
            "externalAccountBinding is not a flattened JWS",
        ),
        (
            {"protected": "!!", "payload": "", "signature": ""},
            "externalAccountBinding is not a flattened JWS",
        ),
        (
            {"protected": "e30", "payload": "e30", "signature": ""},
            "externalAccountBinding must use alg HS256",
        ),
    ],
)
async def test_s7_3_4_a_binding_that_is_not_a_jws_is_malformed(
    acme: AcmeServer, value: object, detail: str
) -> None:
    client = await acme.client()
    response = await client.register(externalAccountBinding=value)
    assert response.json() == problem("malformed", detail, 400)


async def test_s7_3_4_a_bound_key_cannot_bind_a_second_account(acme: AcmeServer) -> None:
    kid, hmac_key = await eab.create_eab_key(acme.rt, None)
    first = await acme.client()
    assert (await first.register(externalAccountBinding=binding(first, kid, hmac_key))).status_code == 201
    second = await acme.client()
    response = await second.register(externalAccountBinding=binding(second, kid, hmac_key))
    assert response.json() == problem(
        "unauthorized", f"external account key {kid!r} is already bound to an account", 403
    )


# --- requireEab profiles and their directories ------------------------------------------------------


async def test_s7_3_4_a_require_eab_profile_directory_demands_a_binding(acme: AcmeServer) -> None:
    await make_profile(acme, "partners", requireEab=True)
    client = await profile_client(acme, "partners")
    assert client.directory["newAccount"] == f"{acme.url}/acme/profiles/partners/new-account"
    refused = await client.register()
    assert refused.json() == problem(
        "externalAccountRequired", "profile 'partners' requires an external account binding", 400
    )
    kid, hmac_key = await eab.create_eab_key(acme.rt, "partners")
    created = await client.register(externalAccountBinding=binding(client, kid, hmac_key))
    assert created.status_code == 201
    plain = await acme.client()  # the default directory does not require EAB
    assert (await plain.register()).status_code == 201


async def test_eab_required_for_gives_the_directory_meta_flag(acme: AcmeServer) -> None:
    await make_profile(acme, "partners", requireEab=True)
    rt = acme.rt
    assert await accounts.eab_required_for(rt, None, False) is False
    assert await accounts.eab_required_for(rt, None, True) is True
    assert await accounts.eab_required_for(rt, "default", False) is False
    assert await accounts.eab_required_for(rt, "default", True) is True
    assert await accounts.eab_required_for(rt, "partners", False) is True
    for global_flag in (False, True):
        with pytest.raises(NotFound):
            await accounts.eab_required_for(rt, "nope", global_flag)


async def test_s7_1_1_a_require_eab_profile_directory_advertises_external_account_required(
    acme: AcmeServer,
) -> None:
    await make_profile(acme, "partners", requireEab=True)
    scoped = (await acme.http.get(f"{acme.url}/acme/profiles/partners/directory")).json()
    assert scoped["meta"]["externalAccountRequired"] is True
    default = (await acme.http.get(acme.directory_url)).json()
    assert default["meta"]["externalAccountRequired"] is False


async def test_new_account_on_an_unknown_profile_directory_is_404(acme: AcmeServer) -> None:
    client = await acme.client()
    url = f"{acme.url}/acme/profiles/nope/new-account"
    response = await client.post(url, {"termsOfServiceAgreed": True}, use_jwk=True)
    assert response.json() == problem("malformed", "no profile 'nope'", 404)


async def test_a_key_for_one_profile_binds_on_its_directory_and_the_default_only(acme: AcmeServer) -> None:
    await make_profile(acme, "team-a")
    await make_profile(acme, "team-b")
    kid, hmac_key = await eab.create_eab_key(acme.rt, "team-a")
    elsewhere = await profile_client(acme, "team-b")
    refused = await elsewhere.register(externalAccountBinding=binding(elsewhere, kid, hmac_key))
    assert refused.json() == problem(
        "unauthorized", f"external account key {kid!r} is for another profile, not 'team-b'", 403
    )
    default = await acme.client()
    assert (await default.register(externalAccountBinding=binding(default, kid, hmac_key))).status_code == 201

    kid_a, hmac_a = await eab.create_eab_key(acme.rt, "team-a")
    own = await profile_client(acme, "team-a")
    assert (await own.register(externalAccountBinding=binding(own, kid_a, hmac_a))).status_code == 201


# --- what cert-manager needs ------------------------------------------------------------------------


async def test_cert_manager_only_return_existing_without_eab_where_eab_is_required(acme: AcmeServer) -> None:
    await make_profile(acme, "partners", requireEab=True)
    client = await profile_client(acme, "partners")
    unknown = await client.register(onlyReturnExisting=True)
    assert unknown.json() == problem("accountDoesNotExist", "no account exists for this key", 400)
    kid, hmac_key = await eab.create_eab_key(acme.rt, "partners")
    created = await client.register(externalAccountBinding=binding(client, kid, hmac_key))
    assert created.status_code == 201
    found = await client.register(onlyReturnExisting=True)
    assert found.status_code == 200 and found.headers["Location"] == created.headers["Location"]
    assert found.json() == created.json()


async def test_cert_manager_registering_a_bound_key_again_with_eab_returns_the_account(
    acme: AcmeServer,
) -> None:
    await make_profile(acme, "partners", requireEab=True)
    client = await profile_client(acme, "partners")
    kid, hmac_key = await eab.create_eab_key(acme.rt, "partners")
    created = await client.register(externalAccountBinding=binding(client, kid, hmac_key))
    again = await client.register(externalAccountBinding=binding(client, kid, hmac_key))
    assert again.status_code == 200 and again.headers["Location"] == created.headers["Location"]
    key = await key_state(acme, kid)
    assert [b.account_id for b in key.bindings] == [created.headers["Location"].rsplit("/", 1)[1]]


# --- operating keys ---------------------------------------------------------------------------------


async def test_a_bound_key_cannot_be_deleted_an_unused_one_can(acme: AcmeServer) -> None:
    kid, hmac_key = await eab.create_eab_key(acme.rt, None)
    unused, _ = await eab.create_eab_key(acme.rt, None)
    client = await acme.client()
    await client.register(externalAccountBinding=binding(client, kid, hmac_key))
    with pytest.raises(Conflict, match="bound 1 account"):
        await eab.delete_eab_key(acme.rt, kid)
    await eab.delete_eab_key(acme.rt, unused)
    assert [k.kid for k in await eab.list_eab_keys(acme.rt)] == [kid]
    with pytest.raises(NotFound):
        await eab.delete_eab_key(acme.rt, unused)


async def test_a_profile_with_bound_eab_keys_cannot_be_deleted(acme: AcmeServer) -> None:
    await make_profile(acme, "bound", requireEab=True)
    kid, hmac_key = await eab.create_eab_key(acme.rt, "bound")
    client = await profile_client(acme, "bound")
    assert (await client.register(externalAccountBinding=binding(client, kid, hmac_key))).status_code == 201
    with pytest.raises(Conflict, match="bound to accounts"):
        await profiles.delete_profile(acme.rt, "bound")
    assert (await profiles.get_profile(acme.rt, "bound")).name == "bound"


# --- keys for fleets: several accounts per key, disabling -------------------------------------------


async def register_with(acme: AcmeServer, kid: str, hmac_key: str) -> Any:
    client = await acme.client()
    return await client.register(externalAccountBinding=binding(client, kid, hmac_key))


async def test_a_fleet_key_binds_up_to_its_limit_then_refuses(acme: AcmeServer) -> None:
    kid, hmac_key = await eab.create_eab_key(acme.rt, None, 3)
    created = [await register_with(acme, kid, hmac_key) for _ in range(3)]
    assert [r.status_code for r in created] == [201, 201, 201]
    refused = await register_with(acme, kid, hmac_key)
    assert refused.json() == problem(
        "unauthorized", f"external account key {kid!r} has bound all the 3 accounts it may", 403
    )
    key = await key_state(acme, kid)
    assert key.account_count == 3
    assert [b.account_id for b in key.bindings] == [r.headers["Location"].rsplit("/", 1)[1] for r in created]


async def test_an_unlimited_key_binds_every_account(acme: AcmeServer) -> None:
    kid, hmac_key = await eab.create_eab_key(acme.rt, None, None)
    assert {(await register_with(acme, kid, hmac_key)).status_code for _ in range(5)} == {201}
    assert (await key_state(acme, kid)).account_count == 5


async def test_a_disabled_key_binds_no_new_account_and_keeps_the_bound_ones(acme: AcmeServer) -> None:
    await make_profile(acme, "partners", requireEab=True)
    kid, hmac_key = await eab.create_eab_key(acme.rt, "partners", None)
    client = await profile_client(acme, "partners")
    assert (await client.register(externalAccountBinding=binding(client, kid, hmac_key))).status_code == 201
    assert await eab.disable_eab_key(acme.rt, kid) == []
    refused = await register_with(acme, kid, hmac_key)
    assert refused.json() == problem("unauthorized", f"external account key {kid!r} is disabled", 403)
    assert (await client.new_order("a.example.internal")).status_code == 201  # still covered
    await eab.enable_eab_key(acme.rt, kid)
    assert (await register_with(acme, kid, hmac_key)).status_code == 201


async def test_disabling_with_deactivate_accounts_deactivates_every_bound_account(acme: AcmeServer) -> None:
    kid, hmac_key = await eab.create_eab_key(acme.rt, None, 2)
    clients = [await acme.client() for _ in range(2)]
    for client in clients:
        await client.register(externalAccountBinding=binding(client, kid, hmac_key))
    bystander = await acme.client()
    await bystander.register()
    deactivated = await eab.disable_eab_key(acme.rt, kid, deactivate_accounts=True)
    assert sorted(deactivated) == sorted(b.account_id for b in (await key_state(acme, kid)).bindings)
    for client in clients:
        response = await client.new_order("a.example.internal")
        assert (response.status_code, response.json()["type"]) == (401, ERR + "unauthorized")
    assert (await bystander.new_order("a.example.internal")).status_code == 201


async def test_deleting_a_bound_key_needs_deactivating_its_accounts(acme: AcmeServer) -> None:
    kid, hmac_key = await eab.create_eab_key(acme.rt, None, None)
    client = await acme.client()
    created = await client.register(externalAccountBinding=binding(client, kid, hmac_key))
    with pytest.raises(Conflict, match="disable it to keep them"):
        await eab.delete_eab_key(acme.rt, kid)
    assert await eab.delete_eab_key(acme.rt, kid, deactivate_accounts=True) == [
        created.headers["Location"].rsplit("/", 1)[1]
    ]
    assert kid not in [k.kid for k in await eab.list_eab_keys(acme.rt)]
    assert (await register_with(acme, kid, hmac_key)).json()[
        "detail"
    ] == f"unknown external account key {kid!r}"
