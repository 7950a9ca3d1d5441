"""cert-manager's ACME sequence on golang.org/x/crypto/acme (conformance/gocm): register (and register
again), AuthorizeOrder, http-01 or dns-01 answered through pebble-challtestsrv, WaitAuthorization,
CreateOrderCert, FetchCert, RevokeCert."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from conformance.checks import check_chain, check_pem_chain
from conformance.clients.gocm import GoCertManager
from conformance.names import Names
from conformance.servers import ChallTestSrv, Target

pytestmark = pytest.mark.client("cert-manager")


@pytest.fixture
def gocm(gocm_binary: Path, target: Target, tmp_path: Path) -> GoCertManager:
    return GoCertManager(gocm_binary, target, tmp_path / "out")


def check_account(steps: dict[str, Any], target: Target) -> None:
    # RFC 8555 §7.3.1: the second newAccount with the same key answers with the same account.
    assert steps["register"]["status"] == "valid"
    assert str(steps["register"]["account"]).startswith(target.base_url + "/")
    assert steps["register-again"]["account"] == steps["register"]["account"]


def test_cert_manager_http01_via_responder(
    gocm: GoCertManager, target: Target, responder: ChallTestSrv, names: Names
) -> None:
    domains = [names.new("cm-http"), names.new("cm-http")]
    steps = gocm.run(domains, challenge="http-01", responder=responder.management_url)
    check_account(steps, target)
    assert steps["order"]["status"] == "pending" and steps["order"]["authorizations"] == 2
    assert sorted(str(a["identifier"]) for a in steps["authorization"]) == sorted(domains)
    assert {a["status"] for a in steps["authorization"]} == {"valid"}
    assert steps["ready"]["status"] == "ready"  # RFC 8555 §7.1.6: all authorizations valid
    fetched = check_pem_chain(target, gocm.out_dir / "fetched.pem", domains)
    issued = check_pem_chain(target, gocm.out_dir / "chain.pem", domains)
    assert fetched == issued  # the certificate URL serves what finalize returned (§7.4.2)


def test_cert_manager_dns01_via_challtestsrv(
    gocm: GoCertManager, target: Target, challtestsrv: ChallTestSrv, names: Names
) -> None:
    base = names.new("cm-dns")
    domains = [f"*.{base}", base]
    steps = gocm.run(domains, challenge="dns-01", responder=challtestsrv.management_url)
    check_account(steps, target)
    # RFC 8555 §7.1.4: the wildcard's authorization names the base domain, with wildcard: true.
    assert sorted((a["identifier"], a["wildcard"]) for a in steps["authorization"]) == [
        (base, False),
        (base, True),
    ]
    check_pem_chain(target, gocm.out_dir / "chain.pem", domains)


def test_cert_manager_eab_registration(
    gocm: GoCertManager, target: Target, responder: ChallTestSrv, names: Names
) -> None:
    domain = names.new("cm-eab")
    steps = gocm.run(
        [domain], challenge="http-01", responder=responder.management_url, eab=target.eab()
    )  # RFC 8555 §7.3.4
    check_account(steps, target)
    check_pem_chain(target, gocm.out_dir / "chain.pem", [domain])


def test_cert_manager_revoke_with_account_key(
    gocm: GoCertManager, target: Target, responder: ChallTestSrv, names: Names
) -> None:
    domain = names.new("cm-revoke")
    steps = gocm.run([domain], challenge="http-01", responder=responder.management_url, revoke=True)
    assert steps["revoked"]["account"] == steps["register"]["account"]
    chain = x509.load_pem_x509_certificates((gocm.out_dir / "chain.pem").read_bytes())
    leaf = check_chain(target, chain, [domain])
    # RFC 8555 §7.6 with reason 5 (RFC 5280 §5.3.1 cessationOfOperation)
    assert target.revocation_reason(leaf) == x509.ReasonFlags.cessation_of_operation
