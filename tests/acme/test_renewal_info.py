"""ACME Renewal Information (RFC 9773) over real HTTPS on both engines: the directory entry, the
suggested window (last third by default, per profile), Retry-After, the window moving into the past
on revocation, renew-now and CA rotation — seen by our test client and by the `acme` library that
certbot uses — and `replaces` in newOrder (recorded in the renewal chain, alreadyReplaced)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import josepy
import pytest
from acme import client as acme_client
from acme import messages
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from acme_server.cli import main
from acme_server.errors import Conflict
from acme_server.services import issuance
from acme_server.services.config import profiles
from acme_server.services.inventory import certificates, edits
from acme_server.services.issuance import ManagedRequest
from acme_server.services.renewal import ari
from ca_core.jose import b64encode
from ca_core.keys import KeyAlgorithm, generate_key
from ca_core.renewal_info import cert_id
from ca_core.request import Subject, SubjectAltNames
from ca_core.revocation import RevocationReason
from tests.acme.client import Client, csr_der
from tests.acme.client import certificates as parse_chain
from tests.acme.conftest import AcmeServer, wait_status
from tests.acme.test_issuance_flow import _issue

ERR = "urn:ietf:params:acme:error:"


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def issued(acme: AcmeServer, name: str) -> tuple[Client, x509.Certificate, str]:
    """A client, the leaf it got over ACME, and the leaf's inventory id."""
    client, order, _ = await _issue(acme, name)
    leaf = parse_chain((await client.post(str(order["certificate"]))).text)[0]
    return client, leaf, str(order["certificate"]).rsplit("/", 1)[1]


async def window_of(acme: AcmeServer, client: Client, leaf: x509.Certificate) -> tuple[datetime, datetime]:
    response = await acme.http.get(f"{client.directory['renewalInfo']}/{cert_id(leaf)}")
    assert response.status_code == 200, response.text
    window = response.json()["suggestedWindow"]
    return parse_time(window["start"]), parse_time(window["end"])


async def test_directory_advertises_renewal_info(acme: AcmeServer) -> None:
    body = (await acme.http.get(acme.directory_url)).json()
    assert body["renewalInfo"] == f"{acme.url}/acme/renewal-info"
    scoped = (await acme.http.get(f"{acme.url}/acme/profiles/default/directory")).json()
    assert scoped["renewalInfo"] == body["renewalInfo"]


async def test_s4_2_default_window_is_the_last_third_with_retry_after(acme: AcmeServer) -> None:
    client, leaf, _ = await issued(acme, "ari.example.internal")
    response = await acme.http.get(f"{client.directory['renewalInfo']}/{cert_id(leaf)}")  # no JWS: GET
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["retry-after"] == "3600"
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    start = (leaf.not_valid_before_utc + lifetime * 0.67).replace(microsecond=0)
    assert response.json() == {
        "suggestedWindow": {
            "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": leaf.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    }


async def test_revocation_moves_the_window_into_the_past(acme: AcmeServer) -> None:
    client, leaf, _ = await issued(acme, "revoked-ari.example.internal")
    before = datetime.now(UTC).replace(microsecond=0)
    payload = {"certificate": b64encode(leaf.public_bytes(Encoding.DER)), "reason": 4}
    revoked = await client.post(client.directory["revokeCert"], payload)
    assert revoked.status_code == 200
    start, end = await window_of(acme, client, leaf)
    assert before <= end <= datetime.now(UTC) and start == end - timedelta(hours=1)


async def test_renew_now_and_ca_rotation_move_windows_into_the_past(acme: AcmeServer) -> None:
    client, leaf, certificate_id = await issued(acme, "renew-now.example.internal")
    _, other, _ = await issued(acme, "rotated.example.internal")
    assert (await window_of(acme, client, leaf))[0] > datetime.now(UTC) + timedelta(days=30)
    marked = await ari.mark_for_renewal(acme.rt, certificate_id)
    asked = datetime.fromisoformat(marked.metadata[ari.RENEWAL_REQUESTED])
    assert (await window_of(acme, client, leaf))[1] == asked.replace(microsecond=0)
    await ari.mark_for_renewal(acme.rt, certificate_id)  # asking again keeps the first time
    assert (await window_of(acme, client, leaf))[1] == asked.replace(microsecond=0)
    # The other certificate of the same CA: unchanged until the CA is marked for rotation.
    assert (await window_of(acme, client, other))[1] == other.not_valid_after_utc
    assert await ari.mark_ca_for_rotation(acme.rt, "dev-intermediate") == 1  # the unmarked one
    assert (await window_of(acme, client, other))[1] <= datetime.now(UTC)


async def test_renew_now_is_for_active_acme_certificates_only(acme: AcmeServer) -> None:
    managed = await issuance.issue_certificate(
        acme.rt,
        profile="default",
        managed=ManagedRequest(
            Subject(common_name="api.example.internal"), SubjectAltNames(dns=("api.example.internal",))
        ),
    )
    with pytest.raises(Conflict, match="not issued over ACME"):
        await ari.mark_for_renewal(acme.rt, managed.id)
    _, _, certificate_id = await issued(acme, "gone-ari.example.internal")
    await edits.revoke_certificate(acme.rt, certificate_id, RevocationReason.UNSPECIFIED)
    with pytest.raises(Conflict, match="is revoked"):
        await ari.mark_for_renewal(acme.rt, certificate_id)


async def test_the_profile_sets_the_window(acme: AcmeServer) -> None:
    stored = (await profiles.get_profile(acme.rt, "default")).profile.to_document()
    await profiles.update_profile(acme.rt, "default", {**stored, "renewalWindow": {"start": 50, "end": 60}})
    client, leaf, _ = await issued(acme, "half.example.internal")
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    start, end = await window_of(acme, client, leaf)
    assert start == (leaf.not_valid_before_utc + lifetime / 2).replace(microsecond=0)
    assert end == (leaf.not_valid_before_utc + lifetime * 0.6).replace(microsecond=0)


async def test_unknown_and_malformed_cert_ids_are_problems(acme: AcmeServer) -> None:
    base = f"{acme.url}/acme/renewal-info"
    unknown = await acme.http.get(f"{base}/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE")  # RFC 9773's example
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["type"] == ERR + "malformed"
    malformed = await acme.http.get(f"{base}/not-a-cert-id")
    assert malformed.status_code == 400
    assert malformed.json() == {
        "type": ERR + "malformed",
        "detail": "a certID is base64url(keyIdentifier) '.' base64url(serial)",
        "status": 400,
    }


# --- the acme library (certbot's client) ----------------------------------------------------------------


def acme_library_renewal_time(acme: AcmeServer, roots: Path, cert_pem: bytes) -> datetime | None:
    key = josepy.JWKEC(key=generate_key(KeyAlgorithm.EC_prime256v1))
    net = acme_client.ClientNetwork(key, verify_ssl=str(roots), user_agent="acme-server-tests")
    directory = messages.Directory.from_json(net.get(acme.directory_url).json())
    when, _ = acme_client.ClientV2(directory, net).renewal_time(cert_pem)
    return when.astimezone(UTC) if when is not None and when.tzinfo else when


async def test_the_acme_library_renews_at_once_after_renew_now(acme: AcmeServer, tmp_path: Path) -> None:
    client, leaf, certificate_id = await issued(acme, "certbot-ari.example.internal")
    pem = leaf.public_bytes(Encoding.PEM)
    roots = tmp_path / "root.pem"
    scheduled = await asyncio.to_thread(acme_library_renewal_time, acme, roots, pem)
    start, end = await window_of(acme, client, leaf)
    assert scheduled is not None and start <= scheduled <= end
    await ari.mark_for_renewal(acme.rt, certificate_id)
    now_due = await asyncio.to_thread(acme_library_renewal_time, acme, roots, pem)
    assert now_due is not None and now_due <= datetime.now(UTC)


# --- replaces (RFC 9773 §5) -----------------------------------------------------------------------------


async def order_replacing(client: Client, name: str, replaces: str) -> Any:
    return await client.new_order(name, replaces=replaces)


async def test_s5_replaces_is_recorded_in_the_renewal_chain_and_used_once(acme: AcmeServer) -> None:
    client, leaf, old_id = await issued(acme, "chain.example.internal")
    replaces = cert_id(leaf)
    created = await order_replacing(client, "chain.example.internal", replaces)
    assert created.status_code == 201  # ready at once: the name's authorization is reused
    order = {**created.json(), "url": created.headers["Location"]}
    assert order["replaces"] == replaces and order["status"] == "ready"
    second = await order_replacing(client, "chain.example.internal", replaces)
    assert second.status_code == 409 and second.json()["type"] == ERR + "alreadyReplaced"
    await client.post(order["finalize"], {"csr": b64encode(csr_der("chain.example.internal"))})
    done = await wait_status(client, order["url"], {"valid", "invalid"})
    new_id = str(done["certificate"]).rsplit("/", 1)[1]
    old = await certificates.get_certificate(acme.rt, old_id)
    new = await certificates.get_certificate(acme.rt, new_id)
    assert (old.renewed_by_id, old.status, new.renewed_from_id) == (new_id, "superseded", old_id)


async def test_s5_replaces_must_name_a_certificate_of_this_account(acme: AcmeServer) -> None:
    _, leaf, _ = await issued(acme, "theirs.example.internal")
    stranger = await acme.client()
    await stranger.register()
    response = await order_replacing(stranger, "theirs.example.internal", cert_id(leaf))
    assert response.status_code == 400
    assert response.json()["detail"] == "replaces: that certificate was not issued to this account"
    garbage = await order_replacing(stranger, "theirs.example.internal", "nonsense")
    assert garbage.status_code == 400 and garbage.json()["detail"].startswith("replaces: a certID is")


# --- the CLI ---------------------------------------------------------------------------------------------


async def test_cli_shows_and_requests_renewal(
    acme: AcmeServer, database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, leaf, certificate_id = await issued(acme, "cli-ari.example.internal")
    monkeypatch.setenv("ACME_SERVER_KEK", acme.rt.kek.to_text())

    async def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = await asyncio.to_thread(main, [*args[:2], "--database", database_url, *args[2:]])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = await run("cert", "renewal-info", certificate_id, "--json")
    shown = json.loads(out)
    assert code == 0 and shown["certID"] == cert_id(leaf) and shown["reason"] == "schedule"
    assert parse_time(shown["suggestedWindow"]["end"]) == leaf.not_valid_after_utc
    code, out, _ = await run("cert", "request-renewal", certificate_id, "--json")
    assert code == 0 and json.loads(out)["reason"] == "renewal-requested"
    assert parse_time(json.loads(out)["suggestedWindow"]["end"]) <= datetime.now(UTC)
    code, out, _ = await run("ca", "rotate", "dev-intermediate", "--json")
    assert code == 0 and json.loads(out) == {"ca": "dev-intermediate", "certificatesToRenew": 0}
    code, _, err = await run("cert", "request-renewal", "nope")
    assert code == 1 and err == "error: no certificate 'nope'\n"
    code, out, _ = await run("profile", "update", "default", "--renewal-window", "50:75", "--json")
    assert code == 0 and json.loads(out)["renewalWindow"] == {"start": 50, "end": 75}
    code, _, err = await run("profile", "update", "default", "--renewal-window", "soon")
    assert code == 1 and err.startswith("error: --renewal-window 'soon': use START:END")
    code, _, err = await run("profile", "update", "default", "--renewal-window", "80:70")
    assert code == 1 and err == "error: renewalWindow: start must be earlier than end\n"
