"""A challenge POST (RFC 8555 §7.5.1) waits, up to `challenge_wait` seconds, for the validation it
started, so on a network where validation takes milliseconds the answer already carries the outcome
and the client's first poll finds the order ready; past the wait it answers `processing` with
Retry-After, as before."""

from __future__ import annotations

import time

import pytest

from tests.acme.conftest import AcmeServer


async def _answer(acme: AcmeServer, name: str) -> tuple[dict[str, object], dict[str, object], float]:
    client = await acme.client()
    await client.register()
    acme.resolve(name)
    created = await client.new_order(name)
    order = created.json()
    authz = (await client.post(order["authorizations"][0])).json()
    challenge = next(c for c in authz["challenges"] if c["type"] == "http-01")
    acme.serve_http01(client, challenge["token"])
    started = time.monotonic()
    answered = await client.post(challenge["url"], {})
    elapsed = time.monotonic() - started
    assert answered.status_code == 200
    polled = (await client.post(created.headers["Location"])).json()
    return answered.json(), polled, elapsed


async def test_s7_5_1_the_challenge_answer_carries_a_quick_validations_outcome(acme: AcmeServer) -> None:
    challenge, order, _ = await _answer(acme, "quick.example.internal")
    assert challenge["status"] == "valid" and "validated" in challenge
    assert order["status"] == "ready"  # the first poll


@pytest.mark.parametrize("acme_overrides", [{"challenge_wait": 0.0}])
async def test_s7_5_1_without_a_wait_the_challenge_is_answered_processing(acme: AcmeServer) -> None:
    challenge, _, _ = await _answer(acme, "nowait.example.internal")
    assert challenge["status"] == "processing"


@pytest.mark.parametrize("acme_overrides", [{"test_validation_delay": 3.0, "challenge_wait": 0.3}])
async def test_s7_5_1_a_slow_validation_is_answered_processing_after_the_wait(acme: AcmeServer) -> None:
    challenge, order, elapsed = await _answer(acme, "slowwait.example.internal")
    assert challenge["status"] == "processing" and order["status"] == "pending"
    assert elapsed >= 0.3  # it did wait, and answered before the validation ended


@pytest.mark.parametrize("acme_overrides", [{"test_validation_delay": 3.0, "challenge_wait": 0.2}])
async def test_s7_5_1_while_a_validation_runs_the_order_and_authorization_ask_for_a_second(
    acme: AcmeServer,
) -> None:
    """A pending order, and an authorization whose challenge is processing, carry Retry-After: a
    client that honours it cannot flood a loaded server with polls (§7.4 and §7.5.1)."""
    client = await acme.client()
    await client.register()
    acme.resolve("later.example.internal")
    created = await client.new_order("later.example.internal")
    assert created.headers["Retry-After"] == "1"
    authz_url = created.json()["authorizations"][0]
    authz = await client.post(authz_url)
    assert "Retry-After" not in authz.headers  # nothing is running yet: the client must answer first
    challenge = next(c for c in authz.json()["challenges"] if c["type"] == "http-01")
    acme.serve_http01(client, challenge["token"])
    await client.post(challenge["url"], {})
    assert (await client.post(authz_url)).headers["Retry-After"] == "1"
    assert (await client.post(created.headers["Location"])).headers["Retry-After"] == "1"
