"""Per-profile ACME rules over real HTTPS on both engines: requireEab on newOrder, allowWildcards,
preAuthorized names (ready without a challenge, for EAB-bound accounts only) and the authorization
reuse window; each test asserts the exact status and problem document."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from acme_server.services.acme import eab
from acme_server.services.config import policies, profiles
from ca_core.jose import b64encode
from tests.acme.client import Client, csr_der
from tests.acme.conftest import AcmeServer, wait_status
from tests.acme.test_eab import binding, make_profile, problem, profile_client

ERR = "urn:ietf:params:acme:error:"
SVC = "*.svc.example.internal"


@dataclass
class OffsetClock:
    """The server's clock moved forward by `offset` (rows keep their real creation times)."""

    offset: timedelta = field(default_factory=timedelta)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


async def eab_client(
    acme: AcmeServer, key_profile: str | None = None, directory: str | None = None
) -> Client:
    """A client registered with a fresh EAB key made for `key_profile` (None: any profile), through
    the default directory or `directory`'s."""
    kid, hmac_key = await eab.create_eab_key(acme.rt, key_profile)
    client = await (profile_client(acme, directory) if directory else acme.client())
    created = await client.register(externalAccountBinding=binding(client, kid, hmac_key))
    assert created.status_code == 201, created.text
    return client


async def plain_client(acme: AcmeServer, directory: str | None = None) -> Client:
    client = await (profile_client(acme, directory) if directory else acme.client())
    assert (await client.register()).status_code == 201
    return client


async def authorization_urls(client: Client, *names: str, **payload: Any) -> list[str]:
    created = await client.new_order(*names, **payload)
    assert created.status_code == 201, created.text
    return list(created.json()["authorizations"])


# --- requireEab ---------------------------------------------------------------------------------------


async def test_require_eab_profile_refuses_orders_of_accounts_without_a_covering_key(
    acme: AcmeServer,
) -> None:
    await make_profile(acme, "partners", requireEab=True)
    await make_profile(acme, "team-b")
    refused = problem(
        "unauthorized",
        "profile 'partners' requires an account registered with an external account key for it",
        403,
    )
    without = await plain_client(acme)
    response = await without.new_order("a.example.internal", profile="partners")
    assert (response.status_code, response.json()) == (403, refused)
    other_profile = await eab_client(acme, "team-b")
    assert (await other_profile.new_order("a.example.internal", profile="partners")).json() == refused
    assert (await without.new_order("a.example.internal")).status_code == 201  # default needs no EAB

    for allowed in (await eab_client(acme, "partners"), await eab_client(acme, None)):
        assert (await allowed.new_order("a.example.internal", profile="partners")).status_code == 201
    scoped = await eab_client(acme, "partners", directory="partners")
    assert scoped.directory["newOrder"] == f"{acme.url}/acme/profiles/partners/new-order"
    assert (await scoped.new_order("a.example.internal")).status_code == 201


# --- allowWildcards -----------------------------------------------------------------------------------


async def test_wildcards_off_rejects_each_wildcard_identifier(acme: AcmeServer) -> None:
    await make_profile(acme, "nowild", allowWildcards=False)
    client = await plain_client(acme, "nowild")
    response = await client.new_order("*.wild.example.internal", "ok.example.internal")
    detail = "profile 'nowild' does not allow wildcard names"
    assert (response.status_code, response.headers["Content-Type"]) == (400, "application/problem+json")
    assert response.json() == {
        **problem("rejectedIdentifier", detail, 400),
        "subproblems": [
            {
                "type": ERR + "rejectedIdentifier",
                "detail": detail,
                "identifier": {"type": "dns", "value": "*.wild.example.internal"},
            }
        ],
    }
    assert (await client.new_order("ok.example.internal")).status_code == 201


async def test_wildcard_and_policy_refusals_are_one_compound_problem(acme: AcmeServer) -> None:
    await policies.create_policy(acme.rt, "svc-only", {"altNames": {"dns": {"allowed": [SVC]}}})
    await make_profile(acme, "strict", allowWildcards=False, policyId="svc-only")
    client = await plain_client(acme, "strict")
    response = await client.new_order(SVC, "evil.example.com", "api.svc.example.internal")
    body = response.json()
    assert (response.status_code, body["type"], body["detail"]) == (
        400,
        ERR + "compound",
        "2 identifiers are not allowed",
    )
    assert [(s["type"], s["identifier"]["value"]) for s in body["subproblems"]] == [
        (ERR + "rejectedIdentifier", SVC),
        (ERR + "rejectedIdentifier", "evil.example.com"),
    ]
    assert body["subproblems"][0]["detail"] == "profile 'strict' does not allow wildcard names"
    assert "evil.example.com" in body["subproblems"][1]["detail"]


# --- preAuthorized --------------------------------------------------------------------------------------


async def test_pre_authorized_names_are_ready_at_once_for_an_eab_account_and_issue(acme: AcmeServer) -> None:
    await make_profile(acme, "internal", preAuthorized=[SVC])
    client = await eab_client(acme, "internal")
    created = await client.new_order("api.svc.example.internal", profile="internal")
    order = created.json()
    assert created.status_code == 201 and order["status"] == "ready"
    authz = (await client.post(order["authorizations"][0])).json()
    assert authz == {
        "identifier": {"type": "dns", "value": "api.svc.example.internal"},
        "status": "valid",
        "expires": authz["expires"],
        "challenges": [],
    }
    expires = datetime.strptime(authz["expires"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)
    async with acme.rt.storage.read() as tx:
        row = await tx.authorizations.get(order["authorizations"][0].rsplit("/", 1)[1])
    assert row is not None and row.pre_authorized is True and row.status == "valid"

    finalized = await client.post(order["finalize"], {"csr": b64encode(csr_der("api.svc.example.internal"))})
    assert finalized.status_code == 200
    done = await wait_status(client, created.headers["Location"], {"valid", "invalid"})
    assert done["status"] == "valid" and "certificate" in done


async def test_pre_authorized_names_need_a_binding_that_covers_the_profile(acme: AcmeServer) -> None:
    await make_profile(acme, "internal", preAuthorized=[SVC])
    await make_profile(acme, "team-b")
    for client in (await plain_client(acme), await eab_client(acme, "team-b")):
        created = await client.new_order("api.svc.example.internal", profile="internal")
        assert created.json()["status"] == "pending"
        authz = (await client.post(created.json()["authorizations"][0])).json()
        assert authz["status"] == "pending"
        assert sorted(c["type"] for c in authz["challenges"]) == ["dns-01", "http-01", "tls-alpn-01"]


async def test_only_matching_names_are_pre_authorized(acme: AcmeServer) -> None:
    await make_profile(acme, "internal", preAuthorized=[SVC])
    client = await eab_client(acme, None)
    created = await client.new_order(
        "api.svc.example.internal", "deep.api.svc.example.internal", profile="internal"
    )
    order = created.json()
    assert order["status"] == "pending"
    statuses = [(await client.post(url)).json()["status"] for url in order["authorizations"]]
    assert statuses == ["valid", "pending"]


# --- authorizationReuse -------------------------------------------------------------------------------


async def test_authorizations_are_reused_within_the_window_only(acme: AcmeServer) -> None:
    await make_profile(acme, "short", preAuthorized=[SVC], authorizationReuse="1h")
    client = await eab_client(acme, "short")
    first = await authorization_urls(client, "api.svc.example.internal", profile="short")
    assert await authorization_urls(client, "api.svc.example.internal", profile="short") == first
    clock = OffsetClock(timedelta(hours=2))
    acme.rt.clock = clock
    later = await client.new_order("api.svc.example.internal", profile="short")
    assert later.json()["status"] == "ready"
    assert later.json()["authorizations"] != first  # proven 2h ago: older than the 1h window


async def test_a_zero_reuse_window_gives_every_order_new_authorizations(acme: AcmeServer) -> None:
    await make_profile(acme, "fresh", authorizationReuse="0")
    client = await plain_client(acme)
    first = await authorization_urls(client, "x.example.internal", profile="fresh")
    second = await authorization_urls(client, "x.example.internal", profile="fresh")
    assert first != second
    default = await authorization_urls(client, "y.example.internal")
    assert await authorization_urls(client, "y.example.internal") == default  # 30d window: reused


# --- documents ------------------------------------------------------------------------------------------


async def test_profile_documents_keep_the_acme_rules(acme: AcmeServer) -> None:
    rules = {
        "allowWildcards": False,
        "requireEab": True,
        "preAuthorized": [SVC, "**.corp.example.internal"],
        "authorizationReuse": "0d",
    }
    await make_profile(acme, "rules", **rules)
    stored = (await profiles.get_profile(acme.rt, "rules")).profile.to_document()
    assert {key: stored[key] for key in rules} == rules
    updated = await profiles.update_profile(acme.rt, "rules", {**stored, "authorizationReuse": "7d"})
    assert updated.profile.authorization_reuse == timedelta(days=7)
