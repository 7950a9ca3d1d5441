"""`acme-server sync ...` end to end: a directory sync, an ACM sync (moto's server on loopback) and a
webhook sync (a real HTTPS receiver) created, listed without secrets, run and deleted; one-line errors
with exit 1."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.cli.test_cli import CLI, cli  # noqa: F401 - the fixture
from tests.services.receivers import https_server, self_signed_tls
from tests.services.test_syncs import AWS_SECRETS, moto_endpoint  # noqa: F401 - the fixture
from tests.services.test_syncs_webhook import KEY, Script, verify
from tests.tools import write


def _issue(run: CLI) -> str:
    run("ca", "create-root", "s-root")
    run("ca", "create-intermediate", "s-issuing", "--parent", "s-root")
    run("profile", "create", "web", "--ca", "s-issuing")
    issued = run.json(
        "cert", "issue", "--profile", "web", "--cn", "web.example.internal", "--dns", "web.example.internal"
    )
    assert isinstance(issued, dict)
    return str(issued["id"])


def test_directory_sync_create_list_run_delete(
    cli: CLI,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cert_id = _issue(cli)
    target = tmp_path / "nginx"
    marker = tmp_path / "reloaded"
    # the server's configuration names the command (as [reload_commands] in its TOML file would)
    monkeypatch.setenv("ACME_SERVER_RELOAD_COMMANDS", json.dumps({"nginx": f"touch {marker}"}))
    monkeypatch.setenv("ACME_SERVER_RELOAD_AS_ROOT", "true")  # CI runs the suite as root
    created = cli.json(
        "sync", "create", "nginx", "--type", "directory", "--certificate", cert_id,
        "--path", str(target), "--reload-command", "nginx",
    )  # fmt: skip
    assert isinstance(created, dict) and created["lastStatus"] == "ok" and created["lastError"] is None
    assert marker.exists() and stat.S_IMODE((target / "privkey.pem").stat().st_mode) == 0o600
    table = cli("sync", "list")
    assert table.splitlines()[0].split() == [
        "NAME",
        "DESTINATIONTYPE",
        "TARGET",
        "LASTSTATUS",
        "LASTRUNAT",
        "LASTERROR",
    ]
    assert "nginx  directory" in table and f"certificate:{cert_id}" in table
    (target / "cert.pem").unlink()
    assert "lastStatus: ok" in cli("sync", "run", "nginx")
    assert (target / "cert.pem").exists()
    assert cli("sync", "delete", "nginx") == "deleted sync nginx\n"
    assert cli.json("sync", "list") == []


def test_acm_sync_secrets_come_from_a_file_and_are_never_printed(
    cli: CLI,  # noqa: F811
    moto_endpoint: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    cert_id = _issue(cli)
    secrets = write(tmp_path / "aws.json", json.dumps(AWS_SECRETS))
    out = cli(
        "sync", "create", "acm", "--type", "aws-acm", "--certificate", cert_id, "--region", "eu-west-1",
        "--endpoint-url", moto_endpoint, "--secrets-file", str(secrets), "--json",
    )  # fmt: skip
    created = json.loads(out)
    assert created["lastStatus"] == "ok" and created["hasSecrets"] is True
    assert created["state"]["certificateArn"].startswith("arn:aws:acm:eu-west-1:")
    for text in (
        out,
        cli("sync", "list", "--json"),
        cli("sync", "show", "acm", "--json"),
        cli("sync", "show", "acm"),
    ):
        assert AWS_SECRETS["secretAccessKey"] not in text and AWS_SECRETS["accessKeyId"] not in text


def test_sync_errors_are_one_line_and_exit_1(cli: CLI, tmp_path: Path) -> None:  # noqa: F811
    cert_id = _issue(cli)
    error = cli(
        "sync", "create", "s", "--type", "directory", "--certificate", cert_id, "--path", "rel", expect=1
    )
    assert error == "error: config.path: must be an absolute path\n"
    blocker = write(tmp_path / "file", "not a directory")
    error = cli(
        "sync",
        "create",
        "s",
        "--type",
        "directory",
        "--certificate",
        cert_id,
        "--path",
        str(blocker / "x"),
        expect=1,
    )
    assert error == f"error: sync s: cannot write to {blocker / 'x'}: Not a directory\n"
    assert cli("sync", "run", "s", expect=1) == error  # recorded on the sync, and the run fails again
    assert cli("sync", "delete", "nope", expect=1) == "error: no sync 'nope'\n"
    error = cli(
        "sync", "create", "s2", "--type", "directory", "--certificate", cert_id,
        "--path", str(tmp_path / "t"), "--reload-command", "sh -c id", expect=1,
    )  # fmt: skip
    assert error.startswith(
        "error: config.reloadCommand: 'sh -c id' is not one of the server's reload commands"
    )


def test_webhook_sync_from_the_cli_obeys_the_block_list_and_never_prints_its_key(
    cli: CLI,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cert_id = _issue(cli)
    context, receiver_pem = self_signed_tls(tmp_path / "receiver")
    trust = write(tmp_path / "receiver-ca.pem", receiver_pem)
    secrets = write(tmp_path / "hook.json", json.dumps({"hmacKey": KEY}))
    with https_server(context, Script(200)) as receiver:
        create = (
            "sync", "create", "hook", "--type", "webhook", "--certificate", cert_id, "--url", receiver.url,
            "--body", "metadata", "--ca-certificates", str(trust), "--secrets-file", str(secrets),
        )  # fmt: skip
        error = cli(*create, expect=1)
        assert error.startswith("error: config.url: 127.0.0.1 is in a blocked network (127.0.0.0/8)")
        monkeypatch.setenv("ACME_SERVER_VALIDATION_ALLOW_LOOPBACK", "1")  # the operator's configuration
        out = cli(*create, "--json")
        created = json.loads(out)
        assert created["lastStatus"] == "ok" and created["config"]["body"] == "metadata"
        [request] = receiver.received
        assert verify(request)["certificateId"] == cert_id
        for text in (out, cli("sync", "show", "hook"), cli("sync", "list", "--json")):
            assert KEY not in text
