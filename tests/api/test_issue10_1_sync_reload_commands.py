"""Issue 10 defect 1: an operator token ran `["sh", "-c", ...]` as a directory sync's reload command
and read its output back through lastError. Now a sync only *names* a command from the server's own
configuration, only an admin may name one (or point aws-acm elsewhere), a command's output goes to
the server log and never into lastError, commands do not run as root unless configured to, and a
command line stored by an older version is never run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from acme_server.destinations import DestinationHost
from tests.api.conftest import CM, ApiServer, issue_managed, make_pki

SYNCS = f"{CM}/syncs"
SECRET = "kek-material-that-must-not-leak"


def _sync(cert_id: str, path: Path, **config: Any) -> dict[str, Any]:
    return {
        "name": "web",
        "destinationType": "directory",
        "certificateId": cert_id,
        "config": {"path": str(path), **config},
    }


@pytest.fixture
async def cert_id(api: ApiServer) -> str:
    await make_pki(api)
    return str((await issue_managed(api))["certificate"]["id"])


async def test_issue10_1_an_operator_cannot_set_a_reload_command(
    api: ApiServer, cert_id: str, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    api.rt.host = DestinationHost(
        {"nginx": ("touch", str(marker))}, run_as_root=True, directory_roots=(tmp_path,)
    )
    for command in ("nginx", ["sh", "-c", f"touch {marker}"], f"sh -c 'touch {marker}'"):
        problem = await api.problem(
            "POST",
            SYNCS,
            403,
            "forbidden",
            role="operator",
            json=_sync(cert_id, tmp_path / "d", reloadCommand=command),
        )
        assert "only an admin may set config.reloadCommand" in problem["detail"]
    assert not marker.exists() and not (tmp_path / "d").exists()
    assert await api.ok("GET", SYNCS, role="viewer") == {"syncs": []}
    # an operator still creates syncs without one
    await api.ok("POST", SYNCS, role="operator", status=201, json=_sync(cert_id, tmp_path / "d"))
    assert (tmp_path / "d" / "cert.pem").exists() and not marker.exists()


async def test_issue10_1_a_sync_names_a_configured_command_and_cannot_give_one(
    api: ApiServer, cert_id: str, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    api.rt.host = DestinationHost({"nginx": ("touch", str(marker))}, run_as_root=True)
    for command in (["sh", "-c", f"touch {marker}"], f"touch {marker}", "apache", ""):
        problem = await api.problem(
            "POST", SYNCS, 400, "invalid-field", json=_sync(cert_id, tmp_path / "d", reloadCommand=command)
        )
        assert problem["field"] == "config.reloadCommand", problem
        assert "is not one of the server's reload commands" in problem["detail"]
    assert not marker.exists()
    created = await api.ok(
        "POST", SYNCS, status=201, json=_sync(cert_id, tmp_path / "d", reloadCommand="nginx")
    )
    assert created["lastStatus"] == "ok" and marker.exists()


async def test_issue10_1_a_reload_commands_output_never_reaches_last_error(
    api: ApiServer, cert_id: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    api.rt.host = DestinationHost({"leaky": ("sh", "-c", f"echo {SECRET}; exit 7")}, run_as_root=True)
    await api.ok("POST", SYNCS, status=201, json=_sync(cert_id, tmp_path / "d", reloadCommand="leaky"))
    for role in ("viewer", "operator", "admin"):
        shown = await api.ok("GET", f"{SYNCS}/web", role=role)
        assert shown["lastError"] == (
            "files written, but reload command 'leaky' exited 7 (its output is in the server log)"
        )
        listed = await api.request("GET", SYNCS, role=role)
        assert SECRET not in listed.text
    assert SECRET in caplog.text  # the operator of the host reads it in the server's log


async def test_issue10_1_reload_commands_do_not_run_as_root_unless_configured(
    api: ApiServer, cert_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "ran"
    monkeypatch.setattr(DestinationHost, "running_as_root", lambda self: True)
    api.rt.host = DestinationHost({"nginx": ("touch", str(marker))})
    created = await api.ok(
        "POST", SYNCS, status=201, json=_sync(cert_id, tmp_path / "d", reloadCommand="nginx")
    )
    assert created["lastStatus"] == "failed" and not marker.exists()
    assert created["lastError"] == (
        "files written, but reload command 'nginx' was not run: the server runs as root"
        " (run it as a dedicated user, or set reload_as_root = true)"
    )
    api.rt.host = DestinationHost({"nginx": ("touch", str(marker))}, run_as_root=True)
    assert (await api.ok("POST", f"{SYNCS}/web/run", role="operator"))["lastStatus"] == "ok"
    assert marker.exists()


async def test_issue10_1_a_stored_command_line_is_never_run(
    api: ApiServer, cert_id: str, tmp_path: Path
) -> None:
    """A row written before commands were named (argv in the config) fails its push, never runs."""
    marker = tmp_path / "ran"
    api.rt.host = DestinationHost({}, run_as_root=True)
    async with api.rt.storage.transaction() as tx:
        await tx.syncs.create(
            name="legacy",
            destination_type="directory",
            destination_config={"path": str(tmp_path / "d"), "reloadCommand": ["touch", str(marker)]},
            certificate_id=cert_id,
        )
    run = await api.ok("POST", f"{SYNCS}/legacy/run", role="operator")
    assert run["lastStatus"] == "failed" and "is not one of the server's reload commands" in run["lastError"]
    assert not marker.exists()


async def test_issue10_1_output_an_older_version_stored_is_withheld(
    api: ApiServer, cert_id: str, tmp_path: Path
) -> None:
    async with api.rt.storage.transaction() as tx:
        record = await tx.syncs.create(
            name="old",
            destination_type="directory",
            destination_config={"path": str(tmp_path / "d")},
            certificate_id=cert_id,
        )
        await tx.syncs.record_push(
            record.id,
            at=api.rt.clock.now(),
            certificate_id=cert_id,
            error=f"files written, but reload command sh -c 'cat kek.key' exited 1: {SECRET}\nmore",
        )
    shown = await api.ok("GET", f"{SYNCS}/old", role="viewer")
    assert (
        shown["lastError"]
        == "files written, but reload command sh -c 'cat kek.key' exited 1 (output withheld)"
    )


async def test_issue10_1_an_operator_cannot_point_aws_acm_elsewhere(api: ApiServer, cert_id: str) -> None:
    problem = await api.problem(
        "POST",
        SYNCS,
        403,
        "forbidden",
        role="operator",
        json={
            "name": "acm",
            "destinationType": "aws-acm",
            "certificateId": cert_id,
            "config": {"region": "eu-west-1", "endpointUrl": "http://169.254.169.254/"},
        },
    )
    assert "only an admin may set config.endpointUrl" in problem["detail"]


async def test_issue10_1_operators_write_only_inside_the_configured_sync_directories(
    api: ApiServer, cert_id: str, tmp_path: Path
) -> None:
    allowed = tmp_path / "tls"
    allowed.mkdir()
    api.rt.host = DestinationHost(directory_roots=())
    problem = await api.problem(
        "POST", SYNCS, 403, "forbidden", role="operator", json=_sync(cert_id, allowed / "a")
    )
    assert "names no sync_directories" in problem["detail"]
    api.rt.host = DestinationHost(directory_roots=(allowed,))
    await api.ok("POST", SYNCS, role="operator", status=201, json=_sync(cert_id, allowed / "a"))
    for outside in (tmp_path / "elsewhere", allowed / ".." / "escape"):
        problem = await api.problem(
            "POST", SYNCS, 400, "invalid-field", json={**_sync(cert_id, outside), "name": "o"}
        )
        assert problem["field"] == "config.path"  # the roots bind admins too
    (allowed / "link").symlink_to(tmp_path)  # a symbolic link out of the root
    problem = await api.problem(
        "POST", SYNCS, 400, "invalid-field", json={**_sync(cert_id, allowed / "link" / "x"), "name": "l"}
    )
    assert problem["field"] == "config.path" and not (tmp_path / "x").exists()


async def test_issue10_1_a_stored_sync_outside_the_directories_fails_its_push(
    api: ApiServer, cert_id: str, tmp_path: Path
) -> None:
    """A sync created before sync_directories was set obeys it at its next push."""
    api.rt.host = DestinationHost()
    await api.ok("POST", SYNCS, status=201, json=_sync(cert_id, tmp_path / "old"))  # an admin, no roots
    (tmp_path / "old" / "cert.pem").unlink()
    api.rt.host = DestinationHost(directory_roots=(tmp_path / "tls",))
    run = await api.ok("POST", f"{SYNCS}/web/run", role="operator")
    assert run["lastStatus"] == "failed" and "sync_directories" in run["lastError"]
    assert not (tmp_path / "old" / "cert.pem").exists()
