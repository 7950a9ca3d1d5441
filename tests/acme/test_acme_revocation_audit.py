"""RFC 8555 §7.6 revokeCert is audited like any other revocation: one row, the revoking account as the
actor, the certificate as the target, the request id of the POST (real ACME client over HTTPS)."""

from __future__ import annotations

from cryptography.hazmat.primitives.serialization import Encoding

from acme_server.services.inventory import certificates as certificates_service
from acme_server.services.platform import audit
from ca_core.jose import b64encode
from tests.acme.client import certificates
from tests.acme.conftest import AcmeServer
from tests.acme.test_issuance_flow import _issue


async def test_revoke_cert_is_one_audit_row_naming_the_account(acme: AcmeServer) -> None:
    client, order, _ = await _issue(acme, "audited.example.internal")
    leaf = certificates((await client.post(str(order["certificate"]))).text)[0]
    info = await certificates_service.find_by_certificate(acme.rt, leaf)
    assert info is not None and info.account_id is not None
    revoked = await client.post(
        client.directory["revokeCert"],
        {"certificate": b64encode(leaf.public_bytes(Encoding.DER)), "reason": 4},
    )
    assert revoked.status_code == 200
    (event,) = (await audit.list_events(acme.rt, action="certificate.revoke"))[0]
    assert (event.actor.kind, event.actor.id) == ("account", info.account_id)
    assert (event.target_kind, event.target_id) == ("certificate", info.id)
    assert event.detail == {"serial": info.serial, "reason": "SUPERSEDED", "source": "acme"}
    assert event.request_id == revoked.headers["X-Request-ID"]
