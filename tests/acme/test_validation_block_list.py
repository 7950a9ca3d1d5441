"""Issue 10 defect 8 through the whole server: with the production default (loopback not opted in), a
challenge whose name resolves to 127.0.0.1 fails with `connection` and the responder there sees nothing."""

from __future__ import annotations

import pytest

from tests.acme.conftest import AcmeServer, wait_status


@pytest.fixture
def acme_overrides() -> dict[str, object]:
    return {"validation_allow_loopback": False}


async def test_issue10_defect8_rfc8555_s8_3_default_validation_never_reaches_loopback(
    acme: AcmeServer,
) -> None:
    client = await acme.client()
    assert (await client.register()).status_code == 201
    acme.resolve("internal.example.internal")  # A 127.0.0.1, where the http-01 responder listens
    created = await client.new_order("internal.example.internal")
    authz_url = created.json()["authorizations"][0]
    authz = (await client.post(authz_url)).json()
    challenge = next(c for c in authz["challenges"] if c["type"] == "http-01")
    acme.serve_http01(client, challenge["token"])

    assert (await client.post(challenge["url"], {})).status_code == 200
    done = await wait_status(client, authz_url, {"valid", "invalid"})

    assert done["status"] == "invalid"
    failed = next(c for c in done["challenges"] if c["type"] == "http-01")
    assert failed["status"] == "invalid"
    assert failed["error"]["type"] == "urn:ietf:params:acme:error:connection"
    assert failed["error"]["detail"] == (
        "refusing to connect to internal.example.internal: every address is in a blocked network: "
        "127.0.0.1 (in 127.0.0.0/8)"
    )
    assert acme.http01.requests == []
