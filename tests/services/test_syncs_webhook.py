"""The webhook destination (acme_server/destinations/webhook.py) against a real HTTPS receiver on
loopback, on SQLite and PostgreSQL: the signed body in both modes, the key only when asked for, the
block list refusing internal addresses unless the configuration allows them, failures recorded and
queued pushes retried with back-off through the queue's due time, and the failure metrics."""

from __future__ import annotations

import hashlib
import hmac
import ssl
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from acme_server.destinations.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER
from acme_server.errors import Forbidden
from acme_server.observability import metrics
from acme_server.services import issuance
from acme_server.services.access.tokens import Role
from acme_server.services.delivery import pushes, records, syncs
from acme_server.services.inventory import export
from acme_server.services.renewal.now import renew_certificate
from acme_server.services.runtime import Runtime
from acme_server.validation.blocklist import ALWAYS_BLOCKED
from ca_core.errors import InvalidSetting
from tests.fakes import FixedClock
from tests.services.receivers import Exchange, Received, Receiver, https_server, server_tls
from tests.services.test_certificates import _csr_pem
from tests.services.test_syncs import issue, root_pem

KEY = "webhook-hmac-key-0123456789abcdef"


class Script:
    """The receiver's answers, in order; the last one repeats."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)

    def __call__(self, request: Received) -> Exchange:
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return Exchange(status, b"internal detail the sync must not show", {"Location": "https://10.0.0.1/"})


@pytest.fixture
async def tls(dev: Runtime, tmp_path: Path) -> ssl.SSLContext:
    return await server_tls(dev, tmp_path / "receiver-tls")


@pytest.fixture
async def loopback_allowed(dev: Runtime) -> AsyncIterator[Runtime]:
    """As with validation_allow_loopback = true: the receiver lives on 127.0.0.1."""
    dev.host = replace(dev.host, blocked_networks=ALWAYS_BLOCKED)
    yield dev


def verify(request: Received, key: str = KEY) -> dict[str, Any]:
    """What the docs tell a receiver to do: recompute the signature over timestamp '.' body."""
    timestamp = request.headers[TIMESTAMP_HEADER]
    expected = hmac.new(key.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers[SIGNATURE_HEADER], f"sha256={expected}")
    document: dict[str, Any] = request.json()
    return document


async def create(
    rt: Runtime, name: str, certificate: str, url: str, *, trust: bool = True, **config: Any
) -> records.SyncInfo:
    """A webhook sync to `url`, trusting the dev root (the receiver's issuer) unless not `trust`."""
    trusted = {"caCertificates": await root_pem(rt)} if trust else {}
    return await syncs.create_sync(
        rt,
        name=name,
        destination_type="webhook",
        config={"url": url, **trusted, **config},
        secrets={"hmacKey": KEY},
        certificate=certificate,
    )


async def webhook(
    rt: Runtime, receiver: Receiver, name: str, certificate: str, **config: Any
) -> records.SyncInfo:
    return await create(rt, name, certificate, f"{receiver.url}/hooks/certs?team=web", **config)


async def test_bundle_body_is_signed_and_carries_the_pems_and_follows_renewals(
    loopback_allowed: Runtime, tls: ssl.SSLContext
) -> None:
    rt = loopback_allowed
    cert = await issue(rt, "hook.example.internal")
    with https_server(tls, Script(200)) as receiver:
        sync = await webhook(rt, receiver, "hook", cert.id)
        assert sync.last_status == "ok", sync.last_error
        [request] = receiver.received
        assert request.method == "POST" and request.path == "/hooks/certs?team=web"
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["Host"] == receiver.url.removeprefix("https://")
        body = verify(request)
        assert body == {
            "event": "certificate.issued",
            "certificateId": cert.id,
            "serial": cert.serial,
            "commonName": "hook.example.internal",
            "names": ["hook.example.internal"],
            "notAfter": cert.not_after.isoformat(),
            "downloadUrl": f"{rt.public_url}/api/v1/cert-manager/certificates/{cert.id}/export",
            "certificatePem": cert.certificate_pem,
            "chainPem": cert.chain_pem,
        }  # no privateKeyPem: the sync did not ask for it
        assert sync.destination_state["serial"] == cert.serial and sync.destination_state["status"] == 200

        successor = await renew_certificate(rt, cert.id, actor="test")  # pushed from the queue
        assert len(receiver.received) == 2
        assert verify(receiver.received[1])["serial"] == successor.serial
    after = await syncs.get_sync(rt, "hook")
    assert after.last_status == "ok" and after.next_push_at is None


async def test_metadata_body_has_no_pems_and_include_key_sends_the_servers_key(
    loopback_allowed: Runtime, tls: ssl.SSLContext
) -> None:
    rt = loopback_allowed
    cert = await issue(rt, "meta.example.internal")
    from_csr = await issuance.issue_certificate(
        rt, profile="default", csr_pem=_csr_pem("csr.example.internal")
    )
    with https_server(tls, Script(204)) as receiver:
        await webhook(rt, receiver, "meta", cert.id, body="metadata")
        await webhook(rt, receiver, "keyed", cert.id, includeKey=True)
        await webhook(rt, receiver, "keyed-csr", from_csr.id, includeKey=True)
    meta, keyed, keyed_csr = (verify(r) for r in receiver.received)
    assert set(meta) == {"event", "certificateId", "serial", "commonName", "names", "notAfter", "downloadUrl"}
    assert keyed["privateKeyPem"] == (await export.export_pem(rt, cert.id)).private_key
    assert "privateKeyPem" not in keyed_csr and keyed_csr["certificatePem"] == from_csr.certificate_pem


async def test_an_internal_address_is_refused_unless_the_configuration_allows_it(
    dev: Runtime, tls: ssl.SSLContext
) -> None:
    """The production default blocks loopback (and link-local, the metadata address ...): refused at
    creation for an IP literal, at push time for a name that resolves there; nothing is received."""
    cert = await issue(dev, "ssrf.example.internal")
    with https_server(tls, Script(200)) as receiver:
        with pytest.raises(InvalidSetting) as refused:
            await webhook(dev, receiver, "ssrf", cert.id)
        assert refused.value.field == "config.url" and "127.0.0.0/8" in refused.value.detail
        for literal in ("https://169.254.169.254/latest", "https://[::ffff:127.0.0.1]/", "https://0.0.0.0/"):
            with pytest.raises(InvalidSetting, match="blocked network"):
                await create(dev, "ssrf", cert.id, literal)
        port = receiver.url.rsplit(":", 1)[1]
        by_name = await create(dev, "ssrf-name", cert.id, f"https://localhost:{port}/")
        assert by_name.last_status == "failed" and by_name.last_error is not None
        assert by_name.last_error.startswith(
            "refusing to connect to localhost: every address is in a blocked"
        )
        assert receiver.received == []

        dev.host = replace(dev.host, blocked_networks=ALWAYS_BLOCKED)  # validation_allow_loopback = true
        assert (await pushes.run_sync(dev, "ssrf-name")).last_status == "ok"
        assert len(receiver.received) == 1


async def test_only_an_admin_may_send_the_key_to_a_webhook(
    loopback_allowed: Runtime, tls: ssl.SSLContext
) -> None:
    rt = loopback_allowed
    cert = await issue(rt, "role.example.internal")
    config = {"url": "https://hooks.example.internal/", "includeKey": True}
    with pytest.raises(Forbidden, match=r"only an admin may set config\.includeKey"):
        await syncs.create_sync(
            rt,
            name="op",
            destination_type="webhook",
            config=config,
            secrets={"hmacKey": KEY},
            certificate=cert.id,
            role=Role.OPERATOR,
            push=False,
        )
    created = await syncs.create_sync(
        rt,
        name="op",
        destination_type="webhook",
        config={"url": "https://hooks.example.internal/"},
        secrets={"hmacKey": KEY},
        certificate=cert.id,
        role=Role.OPERATOR,
        push=False,
    )
    assert created.has_secrets and "hmacKey" not in repr(created) and KEY not in repr(created)


@pytest.mark.parametrize(
    ("config", "secrets", "field"),
    [
        ({"url": "http://hooks.example.internal/"}, {"hmacKey": KEY}, "config.url"),
        ({"url": "https://user:pw@hooks.example.internal/"}, {"hmacKey": KEY}, "config.url"),
        ({"url": "https://[::1/"}, {"hmacKey": KEY}, "config.url"),
        ({"url": "https://hooks.example.internal:99999/"}, {"hmacKey": KEY}, "config.url"),
        ({"url": "https://hooks.example.internal/", "body": "all"}, {"hmacKey": KEY}, "config.body"),
        (
            {"url": "https://hooks.example.internal/", "includeKey": "yes"},
            {"hmacKey": KEY},
            "config.includeKey",
        ),
        (
            {"url": "https://hooks.example.internal/", "body": "metadata", "includeKey": True},
            {"hmacKey": KEY},
            "config.includeKey",
        ),
        (
            {"url": "https://hooks.example.internal/", "caCertificates": "nope"},
            {"hmacKey": KEY},
            "config.caCertificates",
        ),
        ({"url": "https://hooks.example.internal/", "timeout": 0}, {"hmacKey": KEY}, "config.timeout"),
        ({"url": "https://hooks.example.internal/"}, {}, "secrets.hmacKey"),
        ({"url": "https://hooks.example.internal/"}, {"hmacKey": "short"}, "secrets.hmacKey"),
        ({"url": "https://hooks.example.internal/"}, {"hmacKey": KEY, "token": "x"}, "secrets.token"),
        ({}, {"hmacKey": KEY}, "config.url"),
    ],
)
async def test_invalid_webhook_syncs_are_refused_naming_the_field(
    dev: Runtime, config: dict[str, Any], secrets: dict[str, str], field: str
) -> None:
    cert = await issue(dev, "invalid.example.internal")
    with pytest.raises(InvalidSetting) as refused:
        await syncs.create_sync(
            dev, name="bad", destination_type="webhook", config=config, secrets=secrets, certificate=cert.id
        )
    assert refused.value.field == field
    assert await syncs.list_syncs(dev) == []


async def test_failures_are_recorded_without_the_receivers_answer(
    loopback_allowed: Runtime, tls: ssl.SSLContext, tmp_path: Path
) -> None:
    rt = loopback_allowed
    cert = await issue(rt, "fail.example.internal")
    with https_server(tls, Script(500)) as receiver:
        refused = await webhook(rt, receiver, "five-hundred", cert.id)
        assert refused.last_status == "failed" and refused.last_error == "the webhook answered 500"
    with https_server(tls, Script(302)) as receiver:
        redirected = await webhook(rt, receiver, "redirected", cert.id)
        assert redirected.last_error == "the webhook answered 302; redirects are not followed"
        assert len(receiver.received) == 1  # the Location was not followed
    with https_server(tls, Script(200)) as receiver:
        # the system's trust store does not know the dev root
        untrusted = await create(rt, "untrusted", cert.id, receiver.url, trust=False)
        assert untrusted.last_error == f"the webhook at {receiver.url}: TLS verification failed"
        assert receiver.received == []
    gone = receiver.url  # nothing listens there any more
    closed = await create(rt, "closed", cert.id, gone)
    assert closed.last_error == f"the webhook at {gone}: connection failed"
    for sync in await syncs.list_syncs(rt):
        assert "internal detail" not in (sync.last_error or "") and "10.0.0.1" not in (sync.last_error or "")
        assert sync.next_push_at is None  # an on-demand push is not retried: its caller saw the outcome


async def test_a_failed_queued_push_is_retried_with_back_off_until_it_succeeds(
    loopback_allowed: Runtime, tls: ssl.SSLContext
) -> None:
    rt = loopback_allowed
    cert = await issue(rt, "retry.example.internal")
    script = Script(200, 503, 503, 200)
    failures = metrics.SYNC_FAILURES.labels("retried")
    retries = metrics.SYNC_RETRIES.labels("retried")
    failed_before, retried_before = failures._value.get(), retries._value.get()
    with https_server(tls, script) as receiver:
        await webhook(rt, receiver, "retried", cert.id)
        successor = await renew_certificate(rt, cert.id, actor="test")  # queued; pushed: 503
        first = await syncs.get_sync(rt, "retried")
        assert first.last_status == "failed" and first.last_error == "the webhook answered 503"
        assert first.last_run_at is not None and first.next_push_at == first.last_run_at + timedelta(
            seconds=30
        )
        assert first.destination_state["failedAttempts"] == 1
        assert first.destination_state["nextAttemptAt"] == first.next_push_at.isoformat()
        assert await pushes.push_due(rt, limit=10) == []  # not due yet: nothing is sent

        rt.clock = FixedClock(first.next_push_at)
        [second] = await pushes.push_due(rt, limit=10)  # 503 again: twice as long
        assert second.last_status == "failed" and second.destination_state["failedAttempts"] == 2
        assert second.next_push_at == first.next_push_at + timedelta(minutes=1)

        rt.clock = FixedClock(second.next_push_at)
        [third] = await pushes.push_due(rt, limit=10)
        assert third.last_status == "ok" and third.last_certificate_id == successor.id
        assert third.next_push_at is None and "failedAttempts" not in third.destination_state
        assert [verify(r)["serial"] for r in receiver.received] == [cert.serial] + [successor.serial] * 3
    assert failures._value.get() - failed_before == 2
    assert retries._value.get() - retried_before == 2
    exposition = metrics.exposition(None, []).decode()
    assert 'acme_server_sync_push_failures_total{sync="retried"}' in exposition
    assert 'acme_server_sync_push_retries_total{sync="retried"}' in exposition


async def test_retries_stop_after_the_last_attempt(loopback_allowed: Runtime, tls: ssl.SSLContext) -> None:
    rt = loopback_allowed
    cert = await issue(rt, "giveup.example.internal")
    with https_server(tls, Script(200, 500)) as receiver:
        await webhook(rt, receiver, "giveup", cert.id)
        await renew_certificate(rt, cert.id, actor="test")
        delays = []
        for _ in range(pushes.RETRY_ATTEMPTS - 1):
            info = await syncs.get_sync(rt, "giveup")
            assert info.next_push_at is not None and info.last_run_at is not None
            delays.append(info.next_push_at - info.last_run_at)
            rt.clock = FixedClock(info.next_push_at)
            await pushes.push_due(rt, limit=10)
        assert len(receiver.received) == 1 + pushes.RETRY_ATTEMPTS
    assert delays == [pushes.retry_delay(n) for n in range(1, pushes.RETRY_ATTEMPTS)]
    assert delays[-1] == timedelta(hours=1)  # 30 s doubling, capped
    final = await syncs.get_sync(rt, "giveup")
    assert final.last_status == "failed" and final.next_push_at is None
    assert final.destination_state["failedAttempts"] == pushes.RETRY_ATTEMPTS
    assert final.destination_state["nextAttemptAt"] is None

    # the next renewal's push (the receiver is gone now) gets retries of its own
    again = await renew_certificate(rt, final.last_certificate_id or "", actor="test")
    renewed = await syncs.get_sync(rt, "giveup")
    assert renewed.last_certificate_id == again.id and renewed.last_error is not None
    assert renewed.last_error.endswith("connection failed")
    assert renewed.destination_state["failedAttempts"] == 1 and renewed.next_push_at is not None
