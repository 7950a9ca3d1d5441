"""Syncs over real HTTP: create (directory and AWS ACM on moto's server), list, show, run, delete;
secrets never in any response; roles, unknown ids, duplicate names and invalid configs are precise
problem documents; a renewal over the API pushes the successor."""

from __future__ import annotations

import asyncio
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from acme_server.destinations import DestinationHost
from tests.api.conftest import CM, ApiServer, issue_managed, make_pki
from tests.services.test_syncs import AWS_SECRETS, moto_endpoint  # noqa: F401 - the fixture
from tests.tools import openssl, write

SYNCS = f"{CM}/syncs"


async def pushed(api: ApiServer, sync: str, certificate_id: str, *, seconds: float = 30) -> dict[str, Any]:
    """The sync once its push of `certificate_id` is recorded (pushes are queued, not inline)."""
    deadline = time.monotonic() + seconds
    while True:
        shown: dict[str, Any] = await api.ok("GET", f"{SYNCS}/{sync}", role="viewer")
        if shown["lastCertificateId"] == certificate_id or time.monotonic() > deadline:
            return shown
        await asyncio.sleep(0.05)


async def test_directory_sync_lifecycle_and_renewal_push(api: ApiServer, tmp_path: Path) -> None:
    pki = await make_pki(api)
    cert = (await issue_managed(api))["certificate"]
    target = tmp_path / "nginx"
    created = await api.ok(
        "POST",
        SYNCS,
        role="operator",
        status=201,
        json={
            "name": "nginx",
            "destinationType": "directory",
            "certificateId": cert["id"],
            "config": {"path": str(target)},
        },
    )
    assert (created["lastStatus"], created["lastError"], created["hasSecrets"]) == ("ok", None, False)
    assert created["certificateId"] == cert["id"] and created["lastCertificateId"] == cert["id"]
    assert stat.S_IMODE((target / "privkey.pem").stat().st_mode) == 0o600
    root = write(tmp_path / "root.pem", pki["root"]["certificate"])
    openssl("verify", "-CAfile", root, "-untrusted", target / "chain.pem", target / "cert.pem")

    renewed = await api.ok("POST", f"{CM}/certificates/{cert['id']}/renew", role="operator", status=201)
    shown = await pushed(api, "nginx", renewed["id"])  # the push worker takes it off the request path
    assert shown["certificateId"] == renewed["id"] and shown["lastCertificateId"] == renewed["id"]
    exported = await api.ok("GET", f"{CM}/certificates/{renewed['id']}/export", role="operator")
    assert (target / "cert.pem").read_text() == exported["certificate"]
    assert (target / "privkey.pem").read_text() == exported["privateKey"]
    assert await api.ok("GET", SYNCS, role="viewer", params={"certificate": renewed["id"]}) == {
        "syncs": [shown]
    }

    run = await api.ok("POST", f"{SYNCS}/{created['id']}/run", role="operator")
    assert run["lastStatus"] == "ok" and run["lastRunAt"] >= shown["lastRunAt"]
    assert await api.ok("DELETE", f"{SYNCS}/nginx", role="operator", status=204) is None
    await api.problem("GET", f"{SYNCS}/nginx", 404, "not-found", role="viewer")


async def test_acm_sync_never_returns_its_secrets(api: ApiServer, moto_endpoint: str) -> None:  # noqa: F811
    await make_pki(api)
    cert = (await issue_managed(api))["certificate"]
    response = await api.request(
        "POST",
        SYNCS,
        role="admin",  # another endpoint than AWS's is an admin's choice
        json={
            "name": "acm",
            "destinationType": "aws-acm",
            "certificateId": cert["id"],
            "config": {"region": "eu-west-1", "endpointUrl": moto_endpoint},
            "secrets": AWS_SECRETS,
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["lastStatus"] == "ok" and created["hasSecrets"] is True
    assert created["state"]["certificateArn"].startswith("arn:aws:acm:eu-west-1:")
    texts = [response.text]
    for path in (SYNCS, f"{SYNCS}/acm", f"{SYNCS}/acm/run"):
        method = "POST" if path.endswith("/run") else "GET"
        texts.append((await api.request(method, path, role="operator")).text)
    texts.append((await api.request("GET", "/api/v1/openapi.json", role=None)).text)
    for text in texts:
        assert AWS_SECRETS["secretAccessKey"] not in text and AWS_SECRETS["accessKeyId"] not in text


@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [
        ({"config": {"path": "relative"}}, "config.path", "config.path: must be an absolute path"),
        ({"config": {"path": "/tmp/x", "mode": 1}}, "config.mode", None),
        ({"config": {"path": "/tmp/x"}, "destinationType": "ftp"}, "destinationType", None),
        (
            {"config": {"path": "/tmp/x"}, "profile": "web"},
            "target",
            "target: give either a certificate or a profile",
        ),
        ({"config": {"path": "/tmp/x"}, "name": "no spaces"}, "name", None),
    ],
)
async def test_invalid_syncs_name_the_field(
    api: ApiServer, body: dict[str, object], field: str, detail: str | None
) -> None:
    await make_pki(api)
    cert = (await issue_managed(api))["certificate"]
    request = {"name": "s", "destinationType": "directory", "certificateId": cert["id"], **body}
    problem = await api.problem("POST", SYNCS, 400, "invalid-field", role="operator", json=request)
    assert problem["field"] == field
    if detail is not None:
        assert problem["detail"] == detail
    assert await api.ok("GET", SYNCS, role="viewer") == {"syncs": []}


async def test_roles_unknown_ids_and_duplicate_names(api: ApiServer, tmp_path: Path) -> None:
    await make_pki(api)
    cert = (await issue_managed(api))["certificate"]
    body = {
        "name": "dup",
        "destinationType": "directory",
        "certificateId": cert["id"],
        "config": {"path": str(tmp_path / "d")},
    }
    problem = await api.problem("POST", SYNCS, 403, "forbidden", role="viewer", json=body)
    assert problem["detail"] == "token 'viewer-test' has role viewer; this needs operator"
    await api.problem("POST", f"{SYNCS}/dup/run", 403, "forbidden", role="viewer")
    await api.problem("DELETE", f"{SYNCS}/dup", 403, "forbidden", role="viewer")
    await api.ok("POST", SYNCS, role="operator", status=201, json=body)
    await api.problem("POST", SYNCS, 409, "conflict", role="operator", json=body)
    missing = await api.problem(
        "POST", SYNCS, 404, "not-found", role="operator", json={**body, "name": "m", "certificateId": "nope"}
    )
    assert missing["detail"] == "no certificate 'nope'"
    assert (await api.problem("POST", f"{SYNCS}/nope/run", 404, "not-found", role="operator"))[
        "detail"
    ] == "no sync 'nope'"
    await api.problem("GET", SYNCS, 401, "unauthorized", role=None)


async def test_issue11_6_a_push_never_holds_up_the_issuance_that_queued_it(
    api: ApiServer, tmp_path: Path
) -> None:
    """A destination that hangs (here a reload command waiting for a file) does not delay the renewal
    that queued the push; the push completes once the destination answers."""
    await make_pki(api)
    cert = (await issue_managed(api))["certificate"]
    release = tmp_path / "release"
    api.rt.host = DestinationHost(
        {"hang": ("sh", "-c", f"while [ ! -e {release} ]; do sleep 0.05; done")}, run_as_root=True
    )
    release.touch()  # the first push (at creation, inline on purpose: the caller asked for it) passes
    body = {
        "name": "slow",
        "destinationType": "directory",
        "certificateId": cert["id"],
        "config": {"path": str(tmp_path / "d"), "reloadCommand": "hang"},
    }
    assert (await api.ok("POST", SYNCS, status=201, json=body))["lastStatus"] == "ok"
    release.unlink()
    renewed = await api.ok("POST", f"{CM}/certificates/{cert['id']}/renew", role="operator", status=201)
    held = await api.ok("GET", f"{SYNCS}/slow", role="viewer")
    assert held["lastCertificateId"] == cert["id"]  # answered while the push still hangs
    release.touch()
    shown = await pushed(api, "slow", renewed["id"])
    assert shown["lastStatus"] == "ok" and shown["lastCertificateId"] == renewed["id"]


async def test_issue11_6_a_queued_push_survives_until_a_worker_takes_it(
    api: ApiServer, tmp_path: Path
) -> None:
    """The queue is a column: a push queued by another process (or before a crash) is taken by the
    next worker that looks."""
    await make_pki(api)
    cert = (await issue_managed(api))["certificate"]
    body = {"name": "q", "destinationType": "directory", "certificateId": cert["id"], "push": False}
    body["config"] = {"path": str(tmp_path / "q")}
    created = await api.ok("POST", SYNCS, status=201, json=body)
    assert created["lastStatus"] == "never"
    async with api.rt.storage.transaction() as tx:  # what another process's issuance does
        assert await tx.syncs.queue_pushes_for_issued(cert["id"], None, at=api.rt.clock.now()) == [
            created["id"]
        ]
    shown = await pushed(api, "q", cert["id"])
    assert shown["lastStatus"] == "ok" and (tmp_path / "q" / "cert.pem").exists()
    async with api.rt.storage.read() as tx:
        assert await tx.syncs.due_pushes(limit=10) == []  # unqueued once pushed
