"""The CRL and OCSP URLs certificates name are CA settings stored in the database: set at `ca create-*`,
changed with `ca update --status-url`, never taken from the flags of the process that signs; CRL
partitions with `--crl-partitions`; and `serve`'s warning for a CA whose URL it does not serve."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID

from acme_server.cli import main
from acme_server.cli.serve import unserved_status_warnings
from acme_server.config import Settings
from acme_server.services.config import ca_creation
from acme_server.services.runtime import open_runtime
from ca_core.authority import CASettings
from ca_core.request import Subject
from tests.test_serve import Server
from tests.tools import openssl


class CLI:
    def __init__(self, data_dir: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.base = ["--data-dir", str(data_dir), "--database", database_url]
        self.capsys = capsys

    def __call__(self, *args: str, expect: int = 0) -> str:
        self.capsys.readouterr()
        code = main([*args[:2], *self.base, *args[2:]])
        out, err = self.capsys.readouterr()
        assert code == expect, f"exit {code}: {out}{err}"
        return out if expect == 0 else err

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json"))

    def issue(self, name: str, out_dir: Path) -> x509.Certificate:
        self("cert", "issue", "--profile", "web", "--cn", name, "--dns", name, "--out-dir", str(out_dir))
        return x509.load_pem_x509_certificate((out_dir / "cert.pem").read_bytes())


@pytest.fixture
def cli(tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> CLI:
    return CLI(tmp_path / "data", database_url, capsys)


def urls(certificate: x509.Certificate) -> tuple[str, str]:
    """(CRL distribution point, AIA OCSP URL)."""
    points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    aia = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    names = points[0].full_name
    assert names is not None
    ocsp = next(d for d in aia if d.access_method == AuthorityInformationAccessOID.OCSP)
    return str(names[0].value), str(ocsp.access_location.value)


def test_certificates_name_the_stored_status_url_not_the_signing_process_flags(
    cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_SERVER_STATUS_URL", "http://first.example.internal")
    assert cli.json("ca", "create-root", "corp-root")["statusUrl"] == "http://first.example.internal"
    issuing = cli.json(
        "ca", "create-intermediate", "corp-issuing", "--parent", "corp-root",
        "--status-url", "http://pki.example.internal:8080/",
    )  # fmt: skip
    ca_id = issuing["id"]
    assert issuing["statusUrl"] == "http://pki.example.internal:8080"
    assert issuing["crlUrls"] == [f"http://pki.example.internal:8080/crl/{ca_id}.crl"]
    cli("profile", "create", "web", "--ca", "corp-issuing")
    # `cert issue` run with other settings than the process that made the CA (the bug of issue 12).
    monkeypatch.setenv("ACME_SERVER_STATUS_URL", "http://another-process.example.internal")
    first = cli.issue("a.example.internal", tmp_path / "a")
    assert urls(first) == (
        f"http://pki.example.internal:8080/crl/{ca_id}.crl",
        "http://pki.example.internal:8080/ocsp",
    )
    moved = cli.json("ca", "update", "corp-issuing", "--status-url", "http://status.example.internal")
    assert moved["statusUrl"] == "http://status.example.internal"
    assert moved["crlUrl"] == f"http://status.example.internal/crl/{ca_id}.crl"
    assert urls(cli.issue("b.example.internal", tmp_path / "b")) == (
        f"http://status.example.internal/crl/{ca_id}.crl",
        "http://status.example.internal/ocsp",
    )
    assert cli.json("ca", "show", "corp-issuing")["statusUrl"] == "http://status.example.internal"


def test_crl_partitions_from_the_cli(cli: CLI, tmp_path: Path) -> None:
    cli("ca", "create-root", "corp-root")
    created = cli.json(
        "ca", "create-intermediate", "issuing", "--parent", "corp-root",
        "--status-url", "http://pki.example.internal", "--crl-partitions", "2",
    )  # fmt: skip
    ca_id = created["id"]
    assert created["crlPartitions"] == 2
    assert created["crlUrls"] == [
        f"http://pki.example.internal/crl/{ca_id}.crl",
        f"http://pki.example.internal/crl/{ca_id}/1.crl",
    ]
    updated = cli.json("ca", "update", "issuing", "--crl-partitions", "3")
    assert updated["crlPartitions"] == 3 and len(updated["crlUrls"]) == 3
    cli("profile", "create", "web", "--ca", "issuing")
    certificate = cli.issue("p.example.internal", tmp_path / "p")
    assert urls(certificate)[0] == updated["crlUrls"][certificate.serial_number % 3]

    out = tmp_path / "part2.pem"
    written = cli.json("ca", "crl", "issuing", "--partition", "2", "--out", str(out))
    assert written["partition"] == 2
    text = " ".join(openssl("crl", "-in", out, "-noout", "-text").stdout.split())
    assert f"X509v3 Issuing Distribution Point: critical Full Name: URI:{updated['crlUrls'][2]}" in text
    assert f"X509v3 CRL Number: {written['number']}" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ca", "update", "issuing"), "error: ca update: give --status-url and/or --crl-partitions\n"),
        (
            ("ca", "update", "issuing", "--crl-partitions", "0"),
            "error: crlPartitions: must be from 1 to 1024, got 0\n",
        ),
        (("ca", "update", "nope", "--crl-partitions", "2"), "error: no CA 'nope'\n"),
        (("ca", "crl", "issuing", "--partition", "1"), "error: no CRL partition of CA issuing '1'\n"),
        (
            ("ca", "update", "issuing", "--status-url", "ftp://pki.example.internal"),
            "error: statusUrl: 'ftp://pki.example.internal' is not an http(s) URL\n",
        ),
        (
            (
                "ca",
                "create-root",
                "custom",
                "--crl-url",
                "http://cdn.example/crl?ca=1",
                "--crl-partitions",
                "2",
            ),
            "error: crlPartitions: partitions are named after a CRL URL ending in .crl, not "
            "'http://cdn.example/crl?ca=1'\n",
        ),
    ],
)
def test_bad_status_settings_are_one_line_errors(cli: CLI, args: tuple[str, ...], message: str) -> None:
    cli("ca", "create-root", "issuing")
    assert cli(*args, expect=1) == message
    assert cli.json("ca", "show", "issuing")["crlPartitions"] == 1  # nothing half-changed


async def test_serve_warns_about_a_ca_whose_status_url_it_does_not_serve(
    tmp_path: Path, database_url: str
) -> None:
    settings = Settings(data_dir=tmp_path, database=database_url, listen="127.0.0.1:14500")
    rt = await open_runtime(settings)
    try:
        await ca_creation.create_root_ca(rt, name="served", subject=Subject(common_name="served"))
        await ca_creation.create_root_ca(
            rt,
            name="elsewhere",
            subject=Subject(common_name="elsewhere"),
            settings=CASettings(status_url="http://pki.example.internal"),
        )
        assert settings.status_public_url == "http://127.0.0.1:14580"
        assert await unserved_status_warnings(rt, settings) == [
            "warning: CA elsewhere: its certificates name http://pki.example.internal for CRLs and OCSP, "
            "which this server does not serve (its status URL is http://127.0.0.1:14580); if relying "
            "parties reach it there now: acme-server ca update elsewhere --status-url http://127.0.0.1:14580"
        ]
        sidecars = Settings(
            data_dir=tmp_path,
            database=database_url,
            status_listen="off",
            status_url="http://pki.example.internal",
        )
        assert [w.split(":")[1] for w in await unserved_status_warnings(rt, sidecars)] == [" CA served"]
    finally:
        await rt.storage.close()


def test_serve_started_on_other_ports_warns_after_its_banner(tmp_path: Path) -> None:
    """The dev CAs store the first server's status URL; a server started on other ports says, after
    its banner, which CAs' certificates point elsewhere and the command that would move them."""
    data_dir = tmp_path / "data"
    first = Server(data_dir)
    first.stop()
    second = Server(data_dir)
    try:
        assert second.process.stdout is not None
        warnings = [second.process.stdout.readline().rstrip("\n") for _ in range(3)]
    finally:
        second.stop()
    assert [w.split(":")[1].strip() for w in warnings] == [
        "CA dev-root",
        "CA dev-intermediate",
        "CA dev-cross-root",
    ]
    assert warnings[1] == (
        f"warning: CA dev-intermediate: its certificates name {first.status_url} for CRLs and OCSP, which "
        f"this server does not serve (its status URL is {second.status_url}); if relying parties reach it "
        f"there now: acme-server ca update dev-intermediate --status-url {second.status_url}"
    )
