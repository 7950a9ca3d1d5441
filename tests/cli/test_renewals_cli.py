"""`acme-server renewals ...`: switching auto-renewal, its status, one pass from the shell, and one-line
errors (CSR certificate, unknown id) with exit 1. Two concurrent `run-due` processes renewing due
certificates exactly once are in tests/services/test_renewals.py."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_cli import CLI, cli  # noqa: F401 - the fixture
from tests.services.test_certificates import _csr_pem
from tests.tools import write


def _setup(run: CLI) -> None:
    run("ca", "create-root", "r-root")
    run("ca", "create-intermediate", "r-issuing", "--parent", "r-root")
    run("profile", "create", "auto", "--ca", "r-issuing", "--auto-renew", "--renew-before-days", "20")


def test_auto_renewal_is_switched_and_shown(cli: CLI) -> None:  # noqa: F811
    _setup(cli)
    issued = cli.json("cert", "issue", "--profile", "auto", "--cn", "a.example.internal", "--ttl", "60d")
    assert isinstance(issued, dict)
    status = cli.json("renewals", "show", issued["id"])
    assert isinstance(status, dict)
    assert status["autoRenew"] is True and status["eligible"] is True and status["attempts"] == []
    assert status["renewAfter"] is not None
    assert "auto-renewal off" in cli("renewals", "disable", issued["id"])
    assert cli.json("cert", "show", issued["id"])["autoRenew"] is False  # type: ignore[index]
    assert "auto-renewal on" in cli("renewals", "enable", issued["id"])
    assert cli("renewals", "run-due") == "no certificate is due for renewal\n"
    assert cli.json("renewals", "run-due") == []


def test_enabling_a_csr_certificate_and_an_unknown_id_are_one_line_errors(cli: CLI, tmp_path: Path) -> None:  # noqa: F811
    _setup(cli)
    csr = write(tmp_path / "req.csr", _csr_pem("csr.example.internal"))
    issued = cli.json("cert", "issue", "--profile", "auto", "--csr", str(csr))
    assert isinstance(issued, dict)
    error = cli("renewals", "enable", issued["id"], expect=1)
    assert error.startswith("error: certificate ") and "auto-renewal needs a server-generated key" in error
    assert error.count("\n") == 1
    assert cli("renewals", "show", "no-such-id", expect=1) == "error: no certificate 'no-such-id'\n"
