"""lego, the Go client: its own http-01 and tls-alpn-01 servers, dns-01 through the exec provider, a
wildcard, renewal, revocation and EAB."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from conformance.checks import check_pem_chain
from conformance.clients.lego import Lego
from conformance.names import Names
from conformance.servers import ChallTestSrv, OurTarget, Target

pytestmark = pytest.mark.client("lego")


@pytest.fixture
def lego(target: Target, challtestsrv: ChallTestSrv, tmp_path: Path) -> Lego:
    return Lego(target, tmp_path / "lego", challtestsrv)


def test_lego_run_http01(lego: Lego, target: Target, names: Names) -> None:
    name = names.new("lego-http")
    lego.run([name], lego.http01(), "run")  # RFC 8555 §8.3 on lego's own server
    check_pem_chain(target, lego.certificate(name), [name])


def test_lego_run_tlsalpn01(lego: Lego, target: Target, names: Names) -> None:
    name = names.new("lego-tls")
    lego.run([name], lego.tlsalpn01(), "run")  # RFC 8737 on lego's own TLS server
    check_pem_chain(target, lego.certificate(name), [name])


def test_lego_run_dns01_exec(lego: Lego, target: Target, names: Names) -> None:
    first, second = names.new("lego-dns"), names.new("lego-dns")
    lego.run([first, second], lego.dns01(), "run")  # RFC 8555 §8.4
    check_pem_chain(target, lego.certificate(first), [first, second])


def test_lego_wildcard_via_dns01(lego: Lego, target: Target, names: Names) -> None:
    base = names.new("lego-wild")
    lego.run([f"*.{base}", base], lego.dns01(), "run")  # RFC 8555 §7.1.3
    check_pem_chain(target, lego.certificate(f"*.{base}"), [f"*.{base}", base])


def test_lego_renew(lego: Lego, target: Target, names: Names) -> None:
    name = names.new("lego-renew")
    lego.run([name], lego.http01(), "run")
    first = check_pem_chain(target, lego.certificate(name), [name])
    # --days 9999: renew now whatever the lifetime; no random pause before it.
    lego.run([name], lego.http01(), "renew", "--days", "9999", "--no-random-sleep")
    renewed = check_pem_chain(target, lego.certificate(name), [name])
    assert renewed.serial_number != first.serial_number


def test_lego_revoke(lego: Lego, target: Target, names: Names) -> None:
    name = names.new("lego-revoke")
    lego.run([name], lego.http01(), "run")
    certificate = x509.load_pem_x509_certificates(lego.certificate(name).read_bytes())[0]
    assert target.revocation_reason(certificate) is None
    # RFC 8555 §7.6, signed with the account key; reason 4 superseded (RFC 5280 §5.3.1).
    lego.run([name], [], "revoke", "--reason", "4", "--keep")
    assert target.revocation_reason(certificate) == x509.ReasonFlags.superseded


def test_lego_register_with_eab_then_issue(lego: Lego, target: Target, names: Names) -> None:
    eab = target.eab()  # RFC 8555 §7.3.4
    name = names.new("lego-eab")
    # One argument each: a base64url key may start with "-".
    lego.run([name], [*lego.http01(), "--eab", f"--kid={eab.kid}", f"--hmac={eab.hmac_key}"], "run")
    check_pem_chain(target, lego.certificate(name), [name])
    (account,) = (lego.home / "accounts").rglob("account.json")
    assert target.base_url in account.read_text()


def test_lego_fleet_registers_several_accounts_with_one_eab_key(
    target: Target, challtestsrv: ChallTestSrv, tmp_path: Path, names: Names
) -> None:
    """docs/eab.md "One key for a fleet": two lego nodes register and issue with one key made for two
    accounts; a third node is refused with unauthorized. Binding limits are ours (Pebble has none)."""
    if not isinstance(target, OurTarget):
        pytest.skip("EAB binding limits are an acme-server feature")
    eab = target.eab(max_accounts=2)
    flags = ["--eab", f"--kid={eab.kid}", f"--hmac={eab.hmac_key}"]
    for node in ("node-a", "node-b"):
        lego = Lego(target, tmp_path / node, challtestsrv)
        name = names.new(f"lego-fleet-{node}")
        lego.run([name], [*lego.http01(), *flags], "run")
        check_pem_chain(target, lego.certificate(name), [name])
    third = Lego(target, tmp_path / "node-c", challtestsrv)
    output = third.run([names.new("lego-fleet-node-c")], [*third.http01(), *flags], "run", check=False)
    assert "has bound all the 2 accounts it may" in output, output
