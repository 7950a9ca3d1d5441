"""Client testing aids (off by default): deliberate badNonce rejections and slow validation, so
client authors can exercise their retry paths, as Pebble offers."""

from __future__ import annotations

import pytest

from acme_server.config import Settings
from tests.acme.conftest import AcmeServer, wait_status


def test_testing_aids_are_off_by_default() -> None:
    assert Settings().test_nonce_reject_rate == 0.0
    assert Settings().test_validation_delay == 0.0


@pytest.mark.parametrize("acme_overrides", [{"test_nonce_reject_rate": 1.0}])
async def test_nonce_reject_rate_refuses_valid_nonces(acme: AcmeServer) -> None:
    client = await acme.client()
    response = await client.register()
    assert response.status_code == 400
    assert response.json()["type"] == "urn:ietf:params:acme:error:badNonce"
    assert "on purpose" in response.json()["detail"]


@pytest.mark.parametrize("acme_overrides", [{"test_validation_delay": 1.0, "challenge_wait": 0.2}])
async def test_validation_delay_shows_processing_with_retry_after(acme: AcmeServer) -> None:
    client = await acme.client()
    await client.register()
    acme.resolve("slow.example.internal")
    order = (await client.new_order("slow.example.internal")).json()
    authz = (await client.post(order["authorizations"][0])).json()
    challenge = next(c for c in authz["challenges"] if c["type"] == "http-01")
    acme.serve_http01(client, challenge["token"])
    answered = await client.post(challenge["url"], {})
    assert answered.json()["status"] == "processing"
    assert answered.headers["Retry-After"] == "1"
    assert (await wait_status(client, challenge["url"], {"valid", "invalid"}))["status"] == "valid"
