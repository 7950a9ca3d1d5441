"""The whole RFC 8555 flow over HTTPS with the real VA: account, order, http-01 and dns-01,
finalize, download the chain, revoke; checked with openssl where it matters."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from acme_server.services.config import cas
from acme_server.services.inventory import certificates as certificates_service
from acme_server.services.inventory.certificates import CertificateFilter
from ca_core.jose import b64encode
from tests.acme.client import Client, certificates, csr_der
from tests.acme.conftest import AcmeServer, wait_status
from tests.tools import openssl, write


async def _ready_order(
    acme: AcmeServer, name: str, challenge_type: str = "http-01", client: Client | None = None, **order: Any
) -> tuple[Client, dict[str, Any]]:
    """A registered client and its order for `name`, validated by the real VA and ready."""
    if client is None:
        client = await acme.client()
        assert (await client.register(contact=["mailto:ops@example.internal"])).status_code == 201
    acme.resolve(name)
    created = await client.new_order(name, **order)
    assert created.status_code == 201
    order_url = created.headers["Location"]
    order = created.json()
    assert order["status"] == "pending"
    authz = (await client.post(order["authorizations"][0])).json()
    challenge = next(c for c in authz["challenges"] if c["type"] == challenge_type)
    if challenge_type == "http-01":
        acme.serve_http01(client, challenge["token"])
    elif challenge_type == "tls-alpn-01":
        acme.tlsalpn01.serve(name, client.key_authorization(challenge["token"]))
    else:
        digest = hashlib.sha256(client.key_authorization(challenge["token"]).encode()).digest()
        acme.dns.add(f"_acme-challenge.{name}", "TXT", f'"{b64encode(digest)}"')
    answered = await client.post(challenge["url"], {})
    assert answered.status_code == 200 and answered.json()["status"] in ("processing", "valid")
    ready = await wait_status(client, order_url, {"ready", "invalid"})
    assert ready["status"] == "ready", ready
    return client, {**ready, "url": order_url}


async def _issue(
    acme: AcmeServer, name: str, challenge_type: str = "http-01"
) -> tuple[Client, dict[str, Any], str]:
    client, order = await _ready_order(acme, name, challenge_type)
    finalized = await client.post(order["finalize"], {"csr": b64encode(csr_der(name))})
    assert finalized.status_code == 200
    done = await wait_status(client, order["url"], {"valid", "invalid"})
    assert done["status"] == "valid"
    return client, done, order["url"]


async def test_http01_order_is_issued_and_chain_verifies(acme: AcmeServer, tmp_path: Path) -> None:
    client, order, _ = await _issue(acme, "web.example.internal")
    download = await client.post(str(order["certificate"]))
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/pem-certificate-chain"
    chain = certificates(download.text)
    assert len(chain) == 3  # leaf, intermediate, root (the full chain to the root)
    leaf = write(tmp_path / "leaf.pem", chain[0].public_bytes(Encoding.PEM))
    untrusted = write(tmp_path / "chain.pem", b"".join(c.public_bytes(Encoding.PEM) for c in chain[1:]))
    root = write(tmp_path / "root.pem", (await cas.get_ca(acme.rt, "dev-root")).certificate_pem or "")
    openssl("verify", "-CAfile", root, "-untrusted", untrusted, leaf)
    assert chain[0].subject.rfc4514_string() == "CN=web.example.internal"


async def test_tlsalpn01_order_is_issued(acme: AcmeServer) -> None:
    _, order, _ = await _issue(acme, "alpn.example.internal", "tls-alpn-01")
    assert order["status"] == "valid"


async def test_dns01_order_is_issued(acme: AcmeServer) -> None:
    _, order, _ = await _issue(acme, "db.example.internal", "dns-01")
    assert str(order["certificate"]).startswith(acme.url + "/acme/cert/")


async def test_revocation_by_the_issuing_account_lands_in_the_crl(acme: AcmeServer, tmp_path: Path) -> None:
    client, order, _ = await _issue(acme, "gone.example.internal")
    pem = (await client.post(str(order["certificate"]))).text
    leaf = certificates(pem)[0]
    revoked = await client.post(
        client.directory["revokeCert"],
        {"certificate": b64encode(leaf.public_bytes(Encoding.DER)), "reason": 1},
    )
    assert revoked.status_code == 200
    again = await client.post(
        client.directory["revokeCert"], {"certificate": b64encode(leaf.public_bytes(Encoding.DER))}
    )
    assert again.status_code == 400
    assert again.json()["type"] == "urn:ietf:params:acme:error:alreadyRevoked"


async def test_s7_4_not_after_is_honoured_as_cert_manager_sends_it(acme: AcmeServer) -> None:
    not_after = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    client, order = await _ready_order(
        acme, "short.example.internal", notAfter=not_after.isoformat().replace("+00:00", "Z")
    )
    assert order["notAfter"] == not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    await client.post(order["finalize"], {"csr": b64encode(csr_der("short.example.internal"))})
    done = await wait_status(client, order["url"], {"valid", "invalid"})
    leaf = certificates((await client.post(str(done["certificate"]))).text)[0]
    assert leaf.not_valid_after_utc == not_after


async def test_s7_4_not_after_beyond_the_profile_maximum_is_refused(acme: AcmeServer) -> None:
    client = await acme.client()
    await client.register()
    far = (datetime.now(UTC) + timedelta(days=4000)).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = await client.new_order("long.example.internal", notAfter=far)
    assert response.status_code == 400
    assert response.json()["type"] == "urn:ietf:params:acme:error:malformed"
    assert "maximum" in response.json()["detail"]


async def test_s7_4_2_alternate_chain_through_the_cross_signed_intermediate(
    acme: AcmeServer, tmp_path: Path
) -> None:
    client, order, _ = await _issue(acme, "alt.example.internal")
    primary = await client.post(str(order["certificate"]))
    alternate_url = f"{order['certificate']}/1"
    assert f'<{alternate_url}>;rel="alternate"' in primary.headers.get_list("link")
    alternate = await client.post(alternate_url)
    assert alternate.status_code == 200
    assert f'<{order["certificate"]}>;rel="alternate"' in alternate.headers.get_list("link")
    chain = certificates(alternate.text)
    assert chain[0] == certificates(primary.text)[0]
    assert chain[-1].subject.rfc4514_string() == "CN=ACME Server Dev Cross Root CA,O=acme-server"
    leaf = write(tmp_path / "leaf.pem", chain[0].public_bytes(Encoding.PEM))
    untrusted = write(tmp_path / "cross.pem", chain[1].public_bytes(Encoding.PEM))
    cross_root = write(tmp_path / "cross-root.pem", chain[2].public_bytes(Encoding.PEM))
    openssl("verify", "-CAfile", cross_root, "-untrusted", untrusted, leaf)
    assert (await client.post(f"{order['certificate']}/7")).status_code == 404


async def test_a_validated_authorization_lives_longer_than_a_pending_one(acme: AcmeServer) -> None:
    client, order = await _ready_order(acme, "long-lived.example.internal")
    authz = (await client.post(order["authorizations"][0])).json()
    expires = datetime.fromisoformat(authz["expires"].replace("Z", "+00:00"))
    assert expires - datetime.now(UTC) > timedelta(days=29)


async def test_s7_4_concurrent_finalize_requests_issue_one_certificate(acme: AcmeServer) -> None:
    client, order = await _ready_order(acme, "race.example.internal")
    csr = b64encode(csr_der("race.example.internal"))
    answers = await asyncio.gather(*(client.post(order["finalize"], {"csr": csr}) for _ in range(4)))
    # RFC 8555 §7.4: one wins; the others find the order no longer ready (Boulder answers the same).
    assert sorted(a.status_code for a in answers) == [200, 403, 403, 403]
    assert all(
        a.json()["type"] == "urn:ietf:params:acme:error:orderNotReady"
        for a in answers
        if a.status_code == 403
    )
    done = await wait_status(client, order["url"], {"valid", "invalid"})
    assert done["status"] == "valid"
    issued = await certificates_service.list_certificates(
        acme.rt, CertificateFilter(search="race.example.internal")
    )
    assert issued[1] == 1
