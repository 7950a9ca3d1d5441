"""The `acme-server` commands end to end on a real database: what an operator types, what they see,
and one-line errors with exit 1 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from acme_server.cli import main
from tests.tools import openssl, write


class CLI:
    def __init__(self, data_dir: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.base = ["--data-dir", str(data_dir), "--database", database_url]
        self.capsys = capsys

    def __call__(self, *args: str, expect: int = 0) -> str:
        self.capsys.readouterr()
        code = main([*args[:2], *self.base, *args[2:]] if len(args) > 1 else [*args, *self.base])
        out, err = self.capsys.readouterr()
        assert code == expect, f"exit {code}: {out}{err}"
        return out if expect == 0 else err

    def json(self, *args: str) -> object:
        return json.loads(self(*args, "--json"))


@pytest.fixture
def cli(tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> CLI:
    return CLI(tmp_path / "data", database_url, capsys)


def test_ca_policy_profile_issue_revoke_crl(cli: CLI, tmp_path: Path) -> None:
    root = cli.json(
        "ca", "create-root", "corp-root", "--organization", "Corp", "--key-algorithm", "EC_secp384r1"
    )
    assert isinstance(root, dict) and root["kind"] == "root"
    cli("ca", "create-intermediate", "corp-issuing", "--parent", "corp-root", "--max-path-length", "0")
    cli("policy", "create", "internal", "--allow-dns", "*.svc.example.internal", "--max-ttl", "90d")
    cli(
        "profile",
        "create",
        "web",
        "--ca",
        "corp-issuing",
        "--policy",
        "internal",
        "--default-ttl",
        "30d",
        "--max-ttl",
        "90d",
        "--eku",
        "server_auth",
    )
    issued = cli.json(
        "cert",
        "issue",
        "--profile",
        "web",
        "--cn",
        "api.svc.example.internal",
        "--dns",
        "api.svc.example.internal",
        "--metadata",
        "team=payments",
        "--out-dir",
        str(tmp_path / "api"),
    )
    assert isinstance(issued, dict)
    cert_id = issued["id"]
    assert (tmp_path / "api" / "key.pem").stat().st_mode & 0o777 == 0o600
    shown = cli.json("cert", "show", cert_id)
    assert isinstance(shown, dict)
    assert shown["altNames"] == ["api.svc.example.internal"] and shown["metadata"] == {"team": "payments"}
    assert shown["extendedKeyUsages"] == ["server_auth"]
    listed = cli.json("cert", "list", "--metadata", "team=payments")
    assert isinstance(listed, list) and [c["id"] for c in listed] == [cert_id]

    chain = write(tmp_path / "chain.pem", cli("ca", "show", "corp-issuing", "--pem"))
    revoked = cli.json("cert", "revoke", cert_id, "--reason", "keyCompromise")
    assert isinstance(revoked, dict) and revoked["message"] == "Successfully revoked certificate"
    cli("ca", "crl", "corp-issuing", "--out", str(tmp_path / "crl.pem"))
    result = openssl(
        "verify",
        "-crl_check",
        "-CAfile",
        chain,
        "-CRLfile",
        tmp_path / "crl.pem",
        tmp_path / "api" / "cert.pem",
        check=False,
    )
    assert "certificate revoked" in result.stdout + result.stderr


def test_policy_violation_is_one_line_and_exit_1(cli: CLI) -> None:
    cli("ca", "create-root", "r")
    cli("policy", "create", "tight", "--allow-dns", "*.ok.internal")
    cli("profile", "create", "p", "--ca", "r", "--policy", "tight")
    err = cli("cert", "issue", "--profile", "p", "--cn", "x", "--dns", "evil.example.com", expect=1)
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "altNames.dns 'evil.example.com'" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ca", "show", "missing"), "no CA 'missing'"),
        (("cert", "revoke", "missing"), "no certificate 'missing'"),
        (("profile", "create", "x", "--ca", "nope"), "no CA 'nope'"),
        (("cert", "issue", "--profile", "default", "--cn", "a", "--ttl", "soon"), "ttl"),
        (("policy", "create", "bad", "--allow-ip", "10.0.0.0/33"), "altNames.ip"),
        (("cert", "issue", "--profile", "nope", "--cn", "a"), "no profile 'nope'"),
        (("cert", "issue", "--profile", "default", "--csr", "/does/not/exist"), "cannot read CSR"),
    ],
)
def test_bad_input_gives_one_error_line(cli: CLI, args: tuple[str, ...], message: str) -> None:
    err = cli(*args, expect=1)
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_pkcs12_and_pem_export(cli: CLI, tmp_path: Path) -> None:
    cli("ca", "create-root", "r")
    cli("profile", "create", "p", "--ca", "r")
    issued = cli.json("cert", "issue", "--profile", "p", "--cn", "svc", "--dns", "svc.internal")
    assert isinstance(issued, dict)
    pem = cli("cert", "export", issued["id"])
    assert pem.count("BEGIN CERTIFICATE") == 2 and "PRIVATE KEY" in pem
    p12 = tmp_path / "svc.p12"
    cli(
        "cert",
        "export",
        issued["id"],
        "--format",
        "pkcs12",
        "--password",
        "pw123456",
        "--alias",
        "svc",
        "--out",
        str(p12),
    )
    shown = openssl("pkcs12", "-in", p12, "-nokeys", "-clcerts", "-passin", "pass:pw123456").stdout
    assert "friendlyName: svc" in shown and shown.count("BEGIN CERTIFICATE") == 1


def test_installed_console_script_exits_nonzero_on_errors(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "acme_server.cli", "ca", "show", "nope", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr == "error: no CA 'nope'\n"


def test_cross_sign_gives_an_alternate_chain(cli: CLI) -> None:
    cli("ca", "create-root", "old-root")
    cli("ca", "create-root", "new-root")
    cli("ca", "create-intermediate", "issuing", "--parent", "old-root")
    shown = cli.json("ca", "cross-sign", "issuing", "--issuer", "new-root")
    assert isinstance(shown, dict) and shown["alternateChains"] == 1
    err = cli("ca", "cross-sign", "issuing", "--issuer", "old-root", expect=1)
    assert err == "error: CA 'old-root' already issued 'issuing'\n"


def test_policy_from_a_json_file_and_its_errors(cli: CLI, tmp_path: Path) -> None:
    good = write(tmp_path / "p.json", '{"altNames": {"dns": {"allowed": ["*.ok.internal"]}}}')
    shown = cli.json("policy", "create", "from-file", "--file", str(good))
    assert isinstance(shown, dict) and shown["altNames"]["dns"]["allowed"] == ["*.ok.internal"]
    broken = write(tmp_path / "broken.json", "{not json")
    assert cli("policy", "create", "x", "--file", str(broken), expect=1).startswith(
        f"error: {broken}: not JSON"
    )
    listed = write(tmp_path / "list.json", "[]")
    assert cli("profile", "create", "y", "--file", str(listed), expect=1) == (
        f"error: {listed}: a profile document is a JSON object\n"
    )
