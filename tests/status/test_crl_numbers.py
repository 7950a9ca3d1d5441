"""The CRL number only grows (RFC 5280 §5.2.3), across restarts of `acme-server serve` and across
processes that publish on one database (the server's updater, a revocation, the CLI)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from cryptography import x509

from acme_server.cli import main
from tests.test_serve import Server


def crl_number(server: Server, ca: str) -> int:
    response = httpx.get(f"{server.status_url}/crl/{ca}.crl", timeout=30)
    assert response.status_code == 200
    crl = x509.load_der_x509_crl(response.content)
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def test_crl_numbers_grow_across_restarts_and_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    first = Server(data_dir)
    try:
        before = crl_number(first, "dev-intermediate")
    finally:
        first.stop()
    assert (
        main(["ca", "crl", "dev-intermediate", "--data-dir", str(data_dir), "--out", str(tmp_path / "c.pem")])
        == 0
    )
    published = int(capsys.readouterr().out.split("number: ")[1].split()[0])
    assert published > before
    second = Server(data_dir)
    try:
        # The restarted server serves the newest CRL and never hands out a number twice.
        assert crl_number(second, "dev-intermediate") == published
        assert (
            main(
                [
                    "ca",
                    "crl",
                    "dev-intermediate",
                    "--data-dir",
                    str(data_dir),
                    "--out",
                    str(tmp_path / "d.pem"),
                ]
            )
            == 0
        )
        assert crl_number(second, "dev-intermediate") == published + 1
    finally:
        second.stop()
