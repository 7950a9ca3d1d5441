"""Webhook and Azure Key Vault syncs over the REST API (real HTTP, a real HTTPS receiver): an
internal address is a 400 naming config.url unless the server's configuration allows it, sending the
key is an admin's choice (403 for an operator), the push worker delivers a renewal, and neither the
HMAC key nor a client secret is ever in a response."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from acme_server.validation.blocklist import ALWAYS_BLOCKED
from tests.api.conftest import CM, ApiServer, issue_managed, make_pki
from tests.api.test_api_syncs import SYNCS, pushed
from tests.services.receivers import https_server, self_signed_tls
from tests.services.test_syncs_webhook import KEY, Script, verify


async def test_a_webhook_to_loopback_is_refused_until_the_configuration_allows_it(
    api: ApiServer, tmp_path: Path
) -> None:
    await make_pki(api)
    cert = (await issue_managed(api))["certificate"]
    tls, receiver_pem = self_signed_tls(tmp_path / "receiver")
    with https_server(tls, Script(200)) as receiver:
        body = {
            "name": "hook",
            "destinationType": "webhook",
            "certificateId": cert["id"],
            "config": {"url": f"{receiver.url}/certs", "caCertificates": receiver_pem},
            "secrets": {"hmacKey": KEY},
        }
        problem = await api.problem("POST", SYNCS, 400, "invalid-field", role="operator", json=body)
        assert problem["field"] == "config.url" and "blocked network (127.0.0.0/8)" in problem["detail"]
        keyed = {**body, "config": {**body["config"], "includeKey": True}}
        forbidden = await api.problem("POST", SYNCS, 403, "forbidden", role="operator", json=keyed)
        assert forbidden["detail"] == "only an admin may set config.includeKey of a webhook sync"
        assert receiver.received == []

        api.rt.host = replace(api.rt.host, blocked_networks=ALWAYS_BLOCKED)  # validation_allow_loopback
        response = await api.request("POST", SYNCS, role="operator", json=body)
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["lastStatus"] == "ok" and created["hasSecrets"] is True
        renewed = await api.ok("POST", f"{CM}/certificates/{cert['id']}/renew", role="operator", status=201)
        shown = await pushed(api, "hook", renewed["id"])  # by the push worker, not the renewal request
        assert shown["lastStatus"] == "ok" and shown["nextPushAt"] is None
        assert [verify(r)["certificateId"] for r in receiver.received] == [cert["id"], renewed["id"]]
        texts = [response.text]
        for path in (SYNCS, f"{SYNCS}/hook", f"{SYNCS}/hook/run"):
            texts.append(
                (
                    await api.request(
                        "POST" if path.endswith("/run") else "GET",
                        path,
                        role="viewer" if not path.endswith("/run") else "operator",
                    )
                ).text
            )
        assert all(KEY not in text for text in texts)


async def test_an_azure_keyvault_sync_outside_azure_needs_an_admin(api: ApiServer) -> None:
    await make_pki(api)
    cert = (await issue_managed(api))["certificate"]
    body = {
        "name": "kv",
        "destinationType": "azure-keyvault",
        "certificateId": cert["id"],
        "config": {
            "vaultUrl": "https://vault.example.internal",
            "certificateName": "web",
            "tenantId": "t",
            "clientId": "c",
        },
        "secrets": {"clientSecret": "azure-secret-never-shown"},
        "push": False,
    }
    problem = await api.problem("POST", SYNCS, 403, "forbidden", role="operator", json=body)
    assert problem["detail"] == "only an admin may name a vaultUrl outside Azure's Key Vault domains"
    created = await api.ok("POST", SYNCS, role="admin", status=201, json=body)
    assert created["hasSecrets"] is True and "azure-secret-never-shown" not in str(created)
