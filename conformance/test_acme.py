"""RFC 8555's rarely used paths, driven with the `acme` Python library (josepy JWS) so each request is
exactly what the scenario needs and each answer is checked on the wire: status, headers, problem type."""

from __future__ import annotations

import secrets
import time
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from josepy.b64 import b64encode
from josepy.jwk import JWKEC

from conformance.checks import check_pem_chain
from conformance.clients.acmelib import (
    ACME_ERROR,
    Account,
    Reply,
    Wire,
    csr_for,
    issue,
    new_key,
    poll,
)
from conformance.names import Names
from conformance.servers import ChallTestSrv, Target

pytestmark = pytest.mark.client("acme")

BAD_NONCE = ACME_ERROR + "badNonce"
UNAUTHORIZED = ACME_ERROR + "unauthorized"
MALFORMED = ACME_ERROR + "malformed"
ACCOUNT_DOES_NOT_EXIST = ACME_ERROR + "accountDoesNotExist"
ALREADY_REVOKED = ACME_ERROR + "alreadyRevoked"
REJECTED_IDENTIFIER = ACME_ERROR + "rejectedIdentifier"
INVALID_PROFILE = ACME_ERROR + "invalidProfile"


def expect_problem(reply: Reply, status: int, kind: str) -> None:
    assert (reply.status, reply.problem) == (status, kind), reply.describe()


# --- nonces (RFC 8555 §6.5, §7.2)


@pytest.mark.reference_deviation(
    "Pebble 2.4.0 answers newNonce with Cache-Control: public, max-age=0, no-cache, without no-store"
)
def test_acme_new_nonce_head_200_get_204_and_no_store(wire: Wire) -> None:
    # RFC 8555 §7.2: HEAD -> 200, GET -> 204, a Replay-Nonce each time, Cache-Control: no-store.
    head = wire.http.head(wire.directory["newNonce"])
    get = wire.http.get(wire.directory["newNonce"])
    assert (head.status_code, get.status_code) == (200, 204)
    assert head.headers["replay-nonce"] != get.headers["replay-nonce"]
    for response in (head, get):
        directives = {d.strip().lower() for d in response.headers.get("cache-control", "").split(",")}
        assert "no-store" in directives, response.headers


def test_acme_replayed_nonce_is_bad_nonce(wire: Wire) -> None:
    account = wire.account()
    nonce = wire.nonce()
    assert account.post(account.url, None, nonce=nonce).status == 200
    replay = account.post(account.url, None, nonce=nonce)
    expect_problem(replay, 400, BAD_NONCE)
    # RFC 8555 §6.5: an error response carries a fresh nonce for the retry.
    assert replay.headers.get("replay-nonce") not in (None, "", nonce)


def test_acme_unknown_nonce_is_bad_nonce(wire: Wire) -> None:
    account = wire.account()
    made_up = b64encode(secrets.token_bytes(16)).decode()
    expect_problem(account.post(account.url, None, nonce=made_up), 400, BAD_NONCE)


# --- request URL (RFC 8555 §6.4)


@pytest.mark.reference_deviation(
    "Pebble 2.4.0 answers a JWS url header that is not the request URL with malformed; "
    "RFC 8555 §6.4 says unauthorized"
)
def test_acme_wrong_url_header_is_unauthorized(wire: Wire, names: Names) -> None:
    account = wire.account()
    identifiers = [{"type": "dns", "value": names.new("url")}]
    reply = account.post(
        wire.directory["newOrder"], {"identifiers": identifiers}, url_header=wire.directory["newAccount"]
    )
    expect_problem(reply, 403, UNAUTHORIZED)


# --- accounts (RFC 8555 §7.3)


def test_acme_new_account_is_201_with_location(wire: Wire) -> None:
    key = new_key()
    reply = wire.new_account(key, contact=["mailto:conformance@example.com"])
    assert reply.status == 201, reply.describe()
    assert reply.location is not None and reply.location.startswith(wire.target.base_url + "/")
    assert reply.json["status"] == "valid"
    assert reply.json["contact"] == ["mailto:conformance@example.com"]


def test_acme_new_account_with_a_registered_key_returns_it(wire: Wire) -> None:
    account = wire.account()
    again = wire.new_account(account.key)
    # RFC 8555 §7.3.1: 200 and the existing account's URL, no second account.
    assert (again.status, again.location) == (200, account.url), again.describe()


def test_acme_only_return_existing_finds_a_known_key(wire: Wire) -> None:
    account = wire.account()
    reply = wire.new_account(account.key, onlyReturnExisting=True)
    assert (reply.status, reply.location) == (200, account.url), reply.describe()
    assert reply.json["status"] == "valid"


def test_acme_only_return_existing_with_an_unknown_key_is_account_does_not_exist(wire: Wire) -> None:
    reply = wire.new_account(new_key(), onlyReturnExisting=True)
    expect_problem(reply, 400, ACCOUNT_DOES_NOT_EXIST)  # RFC 8555 §7.3.1
    assert reply.location is None


def test_acme_eab_binds_the_account(wire: Wire, target: Target) -> None:
    eab = target.eab()
    key = new_key()
    reply = wire.new_account(key, externalAccountBinding=wire.eab_binding(key, eab.kid, eab.hmac_key))
    assert reply.status == 201, reply.describe()  # RFC 8555 §7.3.4
    assert reply.json["status"] == "valid"


def test_acme_eab_with_a_wrong_mac_is_unauthorized(wire: Wire, target: Target) -> None:
    eab = target.eab()
    key = new_key()
    wrong = b64encode(secrets.token_bytes(32)).decode()
    reply = wire.new_account(key, externalAccountBinding=wire.eab_binding(key, eab.kid, wrong))
    expect_problem(reply, 403, UNAUTHORIZED)  # RFC 8555 §7.3.4: the MAC must verify
    expect_problem(wire.new_account(key, onlyReturnExisting=True), 400, ACCOUNT_DOES_NOT_EXIST)


def test_acme_key_change_moves_the_account_to_the_new_key(wire: Wire) -> None:
    account = wire.account()
    new = new_key()
    reply = account.key_change(new)
    assert reply.status == 200, reply.describe()  # RFC 8555 §7.3.5
    found = wire.new_account(new, onlyReturnExisting=True)
    assert (found.status, found.location) == (200, account.url), found.describe()
    expect_problem(wire.new_account(account.key, onlyReturnExisting=True), 400, ACCOUNT_DOES_NOT_EXIST)
    moved = Account(wire, new, account.url)
    assert moved.post(account.url, None).status == 200


@pytest.mark.reference_deviation("Pebble 2.4.0 answers a successful keyChange with an empty body")
def test_acme_key_change_returns_the_updated_account(wire: Wire) -> None:
    account = wire.account()
    new = new_key()
    reply = account.key_change(new)
    # RFC 8555 §7.3.5: "returns status code 200 (OK) and the updated account object".
    assert reply.status == 200, reply.describe()
    assert reply.headers.get("content-type", "").split(";")[0] == "application/json", reply.describe()
    assert reply.json["status"] == "valid"
    assert reply.json["orders"].startswith(wire.target.base_url + "/")  # §7.1.2: orders is required


@pytest.mark.reference_deviation("Pebble 2.4.0 answers a keyChange to a key in use with 500 serverInternal")
def test_acme_key_change_to_a_taken_key_is_409_with_its_account(wire: Wire) -> None:
    account, other = wire.account(), wire.account()
    reply = account.key_change(other.key)
    # RFC 8555 §7.3.5: 409 (Conflict) with a Location header naming the account that holds the key.
    assert (reply.status, reply.location) == (409, other.url), reply.describe()
    assert reply.problem.startswith(ACME_ERROR)
    still = wire.new_account(account.key, onlyReturnExisting=True)
    assert (still.status, still.location) == (200, account.url)


@pytest.mark.reference_deviation("Pebble 2.4.0 answers a deactivated account with 403, not §7.3.6's 401")
def test_acme_account_deactivation(wire: Wire, names: Names) -> None:
    account = wire.account()
    reply = account.post(account.url, {"status": "deactivated"})
    assert reply.status == 200 and reply.json["status"] == "deactivated", reply.describe()  # §7.3.6
    # "the server MUST NOT accept further requests authorized by that account's key"; a POST or
    # POST-as-GET from a deactivated account MUST get 401 unauthorized.
    expect_problem(account.post(account.url, None), 401, UNAUTHORIZED)
    expect_problem(account.new_order(names.new("deactivated")), 401, UNAUTHORIZED)


def test_acme_orders_list_pages_through_every_order(wire: Wire, names: Names) -> None:
    account = wire.account()
    created = []
    for _ in range(4):  # more than one page on Pebble (3 per page)
        reply = account.new_order(names.new("list"))
        assert reply.status == 201 and reply.location, reply.describe()
        created.append(reply.location)
    # RFC 8555 §7.1.2.1: the account's orders URL lists them, paginated with Link rel="next".
    url: str | None = account.post(account.url, None).json["orders"]
    listed: list[str] = []
    for _ in range(20):
        if url is None:
            break
        page = account.post(url, None)
        assert page.status == 200, page.describe()
        listed += page.json["orders"]
        url = next(iter(page.links("next")), None)
    assert set(created) <= set(listed), (created, listed)


# --- revocation (RFC 8555 §7.6)


def test_acme_revoke_with_the_certificate_key(
    wire: Wire, target: Target, challtestsrv: ChallTestSrv, names: Names
) -> None:
    issued = issue(wire.account(), [names.new("revoke-key")], challtestsrv)
    der = issued.certificate.public_bytes(serialization.Encoding.DER)
    payload = {"certificate": b64encode(der).decode(), "reason": 1}
    certificate_key = JWKEC(key=issued.key)
    # Signed with the certificate's key, embedded as jwk: no account involved.
    reply = wire.post(wire.directory["revokeCert"], payload, key=certificate_key)
    assert reply.status == 200, reply.describe()
    assert target.revocation_reason(issued.certificate) == x509.ReasonFlags.key_compromise
    again = wire.post(wire.directory["revokeCert"], payload, key=certificate_key)
    expect_problem(again, 400, ALREADY_REVOKED)


def test_acme_revoke_by_an_unrelated_account_is_unauthorized(
    wire: Wire, target: Target, challtestsrv: ChallTestSrv, names: Names
) -> None:
    issued = issue(wire.account(), [names.new("revoke-other")], challtestsrv)
    stranger = wire.account()  # holds no authorization for the name
    der = issued.certificate.public_bytes(serialization.Encoding.DER)
    reply = stranger.post(wire.directory["revokeCert"], {"certificate": b64encode(der).decode()})
    expect_problem(reply, 403, UNAUTHORIZED)
    assert target.revocation_reason(issued.certificate) is None


# --- challenges (RFC 8555 §8, RFC 8737)


@pytest.mark.parametrize("challenge", ["http-01", "tls-alpn-01"])
def test_acme_issues_through_the_responder(
    wire: Wire, target: Target, responder: ChallTestSrv, names: Names, challenge: str
) -> None:
    name = names.new(challenge.replace("-", ""))
    issued = issue(wire.account(), [name], responder, challenge=challenge)
    check_pem_chain(target, issued.fullchain_pem.encode(), [name])


def test_acme_issues_with_a_new_connection_per_request(
    target: Target, challtestsrv: ChallTestSrv, names: Names
) -> None:
    """The whole order by hand, each request on a connection of its own and signed with the nonce the
    previous answer carried. RFC 8555 §6.5 ties a nonce to the server, not to a connection; behind a
    round-robin balancer (ACME_CONFORMANCE_REPLICAS=2) consecutive requests reach the two replicas in
    turn, so every nonce, and the account, order, authorization and challenge each step names, was
    made by the other replica."""
    wire = Wire(target, keep_alive=False)
    key = new_key()
    state: dict[str, str] = {"nonce": wire.nonce()}  # and "kid" once the account exists

    def post(url: str, payload: dict[str, Any] | None) -> Reply:
        reply = wire.post(url, payload, key=key, kid=state.get("kid"), nonce=state["nonce"])
        # RFC 8555 §6.5: "every successful response to a POST request" carries a Replay-Nonce.
        assert reply.headers.get("replay-nonce"), reply.describe()
        state["nonce"] = reply.headers["replay-nonce"]
        return reply

    def settled(url: str) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for _ in range(150):
            body = post(url, None).json
            if body["status"] in ("valid", "invalid"):
                break
            time.sleep(0.2)
        return body

    try:
        created = post(wire.directory["newAccount"], {"termsOfServiceAgreed": True})
        assert created.status == 201 and created.location, created.describe()
        state["kid"] = created.location
        name = names.new("per-connection")
        order = post(wire.directory["newOrder"], {"identifiers": [{"type": "dns", "value": name}]})
        assert order.status == 201 and order.location, order.describe()
        url = order.json["authorizations"][0]
        dns01 = next(c for c in post(url, None).json["challenges"] if c["type"] == "dns-01")
        key_authorization = Account(wire, key, created.location).key_authorization(dns01["token"])
        cleanup = challtestsrv.publish("dns-01", name, key_authorization)
        try:
            assert post(dns01["url"], {}).status == 200  # §7.5.1
            assert settled(url)["status"] == "valid"
        finally:
            cleanup()
        csr_pem, _ = csr_for([name])
        der = x509.load_pem_x509_csr(csr_pem).public_bytes(serialization.Encoding.DER)
        finalized = post(order.json["finalize"], {"csr": b64encode(der).decode()})
        assert finalized.status == 200, finalized.describe()  # §7.4
        done = settled(order.location)
        assert done["status"] == "valid", done
        chain = post(done["certificate"], None)  # §7.4.2: a PEM chain by default
        assert chain.status == 200, chain.describe()
        check_pem_chain(target, chain.content, [name])
    finally:
        wire.close()


@pytest.mark.reference_deviation(
    "Pebble 2.4.0 reports a wrong http-01 body as unauthorized; RFC 8555 §6.7 has incorrectResponse for it"
)
def test_acme_wrong_http01_response_invalidates_the_authorization(
    wire: Wire, responder: ChallTestSrv, names: Names
) -> None:
    account = wire.account()
    order = account.new_order(names.new("wrong-http")).json
    url = order["authorizations"][0]
    http01 = next(c for c in account.post(url, None).json["challenges"] if c["type"] == "http-01")
    responder.add_http01(http01["token"], f"{http01['token']}.not-the-thumbprint")
    try:
        assert account.post(http01["url"], {}).status == 200
        authorization = poll(account, url, until={"valid", "invalid"})
    finally:
        responder.del_http01(http01["token"])
    # RFC 8555 §7.1.6: a failed challenge makes the authorization invalid; §8: the error says why.
    assert authorization["status"] == "invalid"
    failed = next(c for c in authorization["challenges"] if c["type"] == "http-01")
    assert failed["status"] == "invalid"
    assert failed["error"]["type"] == ACME_ERROR + "incorrectResponse", failed


# --- orders and authorizations


@pytest.mark.reference_deviation("Pebble 2.4.0 accepts bad..name (an empty label) in newOrder")
def test_acme_new_order_rejects_an_empty_label(wire: Wire) -> None:
    reply = wire.account().new_order("bad..name")
    # RFC 8555 §7.4 and §6.7: the server will not issue for this identifier.
    expect_problem(reply, 400, REJECTED_IDENTIFIER)
    for subproblem in reply.json.get("subproblems", []):  # RFC 8555 §6.7.1, when given
        assert subproblem["identifier"] == {"type": "dns", "value": "bad..name"}


@pytest.mark.reference_deviation(
    "Pebble 2.4.0 accepts a challenge on a deactivated authorization, then stops answering every request"
)
def test_acme_challenge_on_a_deactivated_authorization_is_refused(fresh_target: Target, names: Names) -> None:
    wire = Wire(fresh_target, timeout=5)  # short: the reference hangs here
    try:
        account = wire.account()
        order = account.new_order(names.new("deactivated-authz")).json
        url = order["authorizations"][0]
        challenge = account.post(url, None).json["challenges"][0]["url"]
        deactivated = account.post(url, {"status": "deactivated"})
        # RFC 8555 §7.5.2: the client may deactivate a pending authorization.
        assert deactivated.status == 200 and deactivated.json["status"] == "deactivated"
        answer = account.post(challenge, {})
        after = account.post(url, None)
        # RFC 8555 §7.5.1 ("if the server finds the request unacceptable, it returns an error"): a
        # deactivated authorization cannot be validated any more; it stays deactivated.
        expect_problem(answer, 400, MALFORMED)
        assert after.status == 200 and after.json["status"] == "deactivated"
    finally:
        wire.close()


@pytest.mark.unsupported_by_reference("Pebble 2.4.0 has no newAuthz (RFC 8555 §7.4.1 pre-authorization)")
def test_acme_new_authz_pre_authorization(wire: Wire, challtestsrv: ChallTestSrv, names: Names) -> None:
    assert "newAuthz" in wire.directory
    account = wire.account()
    name = names.new("preauthz")
    reply = account.post(wire.directory["newAuthz"], {"identifier": {"type": "dns", "value": name}})
    assert reply.status == 201 and reply.location, reply.describe()
    assert reply.json["status"] == "pending"
    assert reply.json["identifier"] == {"type": "dns", "value": name}
    dns01 = next(c for c in reply.json["challenges"] if c["type"] == "dns-01")
    cleanup = challtestsrv.publish("dns-01", name, account.key_authorization(dns01["token"]))
    try:
        assert account.post(dns01["url"], {}).status == 200
        assert poll(account, reply.location, until={"valid", "invalid"})["status"] == "valid"
    finally:
        cleanup()


# --- profiles (draft-ietf-acme-profiles)


@pytest.mark.unsupported_by_reference("Pebble 2.4.0 advertises no profiles in the directory meta")
def test_acme_directory_lists_profiles(wire: Wire, target: Target) -> None:
    profiles = wire.directory.get("meta", {}).get("profiles", {})
    assert isinstance(profiles, dict) and (target.profile or "default") in profiles


@pytest.mark.unsupported_by_reference("Pebble 2.4.0 ignores the order's profile field")
def test_acme_new_order_with_a_profile(wire: Wire, target: Target, names: Names) -> None:
    account = wire.account()
    profile = target.profile or "default"
    identifiers = [{"type": "dns", "value": names.new("profile")}]
    reply = account.post(wire.directory["newOrder"], {"identifiers": identifiers, "profile": profile})
    assert reply.status == 201 and reply.json.get("profile") == profile, reply.describe()
    unknown = account.post(
        wire.directory["newOrder"], {"identifiers": identifiers, "profile": "no-such-profile"}
    )
    expect_problem(unknown, 400, INVALID_PROFILE)


@pytest.mark.unsupported_by_reference("Pebble 2.4.0 has one directory, none per profile")
def test_acme_directory_per_profile(target: Target) -> None:
    url = target.profile_directory_url(target.profile or "default")
    assert url is not None, "the target offers no directory per profile"
    with target.http() as http:
        response = http.get(url)
    assert response.status_code == 200
    directory = response.json()
    assert {"newNonce", "newAccount", "newOrder", "revokeCert", "keyChange"} <= set(directory)
