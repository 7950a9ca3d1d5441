"""`acme-server serve` on an empty data directory: bootstraps, prints where things are, serves HTTPS
that verifies against the printed trust bundle; a restart reuses everything."""

from __future__ import annotations

import os
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from acme_server.cli import main
from tests.tools import stop_process


def trust(data_dir: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(data_dir / "root.pem"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data_dir: Path, *extra: str, environment: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.status_port = free_port()
        while self.status_port == self.port:  # a closed probe socket can hand out the same port twice
            self.status_port = free_port()
        self.status_url = f"http://127.0.0.1:{self.status_port}"
        self.data_dir = data_dir
        env = {k: v for k, v in os.environ.items() if not k.startswith("ACME_SERVER")}
        env.update(environment or {})
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "acme_server.cli",
                "serve",
                "--data-dir",
                str(data_dir),
                "--listen",
                f"127.0.0.1:{self.port}",
                "--status-listen",
                f"127.0.0.1:{self.status_port}",
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.banner = self._read_banner()
        self.url = f"https://127.0.0.1:{self.port}"
        self._wait_ready()

    def _read_banner(self) -> list[str]:
        assert self.process.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(lines) < 5:
            line = self.process.stdout.readline()
            if not line:
                pytest.fail("server exited before printing its banner:\n" + "".join(lines))
            lines.append(line.rstrip("\n"))
        return lines

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/healthz", verify=trust(self.data_dir), timeout=2)
                return
            except httpx.TransportError:
                time.sleep(0.2)
        exited = self.process.poll()
        pytest.fail(f"server did not answer within 60 s (exit status {exited}); banner: {self.banner}")

    def stop(self) -> None:
        stop_process(self.process)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def server(data_dir: Path) -> Iterator[Server]:
    running = Server(data_dir)
    yield running
    running.stop()


def test_first_start_prints_address_directory_and_trust_bundle(server: Server, data_dir: Path) -> None:
    assert server.banner[0] == f"acme-server listening on https://127.0.0.1:{server.port} (1 worker(s))"
    assert server.banner[1] == f"  ACME directory: https://127.0.0.1:{server.port}/acme/directory"
    assert server.banner[2] == f"  trust bundle:   {(data_dir / 'root.pem').resolve()}"
    assert server.banner[3].startswith("  database:       sqlite:///")
    assert server.banner[4] == f"  status (CRL, OCSP): {server.status_url}"


def test_https_verifies_against_the_trust_bundle(server: Server, data_dir: Path) -> None:
    response = httpx.get(server.url + "/healthz", verify=trust(data_dir))
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/healthz")  # the system store does not trust our dev root


def test_secrets_on_disk_are_private(server: Server, data_dir: Path) -> None:
    assert (data_dir / "kek.key").stat().st_mode & 0o777 == 0o600
    assert (data_dir / "tls" / "server.key").stat().st_mode & 0o777 == 0o600
    database = (data_dir / "acme-server.db").read_bytes()
    assert b"PRIVATE KEY" not in database  # keys are sealed, never stored in the clear


def test_crl_distribution_point_serves_a_crl_of_the_issuer(server: Server, data_dir: Path) -> None:
    leaf, intermediate = x509.load_pem_x509_certificates((data_dir / "tls" / "server.pem").read_bytes())[:2]
    points = leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    url = points[0].full_name[0].value  # type: ignore[index]
    assert url.startswith(server.status_url + "/crl/")  # plain HTTP, as relying parties fetch it
    response = httpx.get(url)
    assert response.status_code == 200 and response.headers["content-type"] == "application/pkix-crl"
    crl = x509.load_der_x509_crl(response.content)
    assert crl.issuer == intermediate.subject and crl.is_signature_valid(intermediate.public_key())  # type: ignore[arg-type]
    again = httpx.get(url, headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304
    over_https = httpx.get(server.url + url.removeprefix(server.status_url), verify=trust(data_dir))
    assert over_https.status_code == 200 and over_https.content == response.content
    missing = httpx.get(server.url + "/crl/nope.crl", verify=trust(data_dir))
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


def test_restart_reuses_the_ca_and_certificate(data_dir: Path) -> None:
    first = Server(data_dir)
    root = (data_dir / "root.pem").read_bytes()
    tls = (data_dir / "tls" / "server.pem").read_bytes()
    first.stop()
    second = Server(data_dir)
    try:
        assert (data_dir / "root.pem").read_bytes() == root
        assert (data_dir / "tls" / "server.pem").read_bytes() == tls
    finally:
        second.stop()


def test_two_workers_serve(data_dir: Path) -> None:
    running = Server(data_dir, "--workers", "2")
    try:
        assert "(2 worker(s))" in running.banner[0]
        for _ in range(10):
            response = httpx.get(running.url + "/healthz", verify=trust(data_dir))
            assert response.status_code == 200
    finally:
        running.stop()


@pytest.mark.parametrize("database_engine", ["postgresql"])
def test_serve_on_postgresql_bootstraps_once_for_two_servers(database_url: str, tmp_path: Path) -> None:
    """Two servers (replicas) with their own data directories on one PostgreSQL database share one
    dev CA: the second start finds it and only issues its own HTTPS certificate."""
    first = Server(tmp_path / "a", "--database", database_url)
    try:
        kek = (tmp_path / "a" / "kek.key").read_text().strip()
        second = Server(tmp_path / "b", "--database", database_url, environment={"ACME_SERVER_KEK": kek})
        try:
            assert (tmp_path / "a" / "root.pem").read_bytes() == (tmp_path / "b" / "root.pem").read_bytes()
            assert second.banner[3] == f"  database:       {database_url}"
        finally:
            second.stop()
    finally:
        first.stop()


def test_a_private_key_export_over_the_api_is_logged_with_the_token_name(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The audit line reaches the server's standard error from a worker process, though nothing else
    configures logging there (uvicorn's root logger shows only warnings)."""
    running = Server(data_dir, "--workers", "2")
    try:
        capsys.readouterr()
        assert (
            main(["token", "create", "--role", "operator", "--name", "deploy", "--data-dir", str(data_dir)])
            == 0
        )
        secret = re.search(r"^token: (\S+)$", capsys.readouterr().out, re.MULTILINE)
        assert secret is not None
        api = httpx.Client(
            base_url=running.url + "/api/v1/cert-manager",
            verify=trust(data_dir),
            headers={"Authorization": f"Bearer {secret[1]}"},
        )
        (own,) = api.get("/certificates", params={"metadata": "purpose=acme-server-https"}).json()[
            "certificates"
        ]
        assert api.get(f"/certificates/{own['id']}/export").json()["privateKey"].startswith("-----BEGIN")
    finally:
        running.stop()
    assert running.process.stdout is not None
    output = running.process.stdout.read()
    assert f"audit: private key of certificate {own['id']}" in output
    assert "exported as PEM by API token 'deploy'" in output
