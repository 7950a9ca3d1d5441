"""What relying parties do, against a running server (its own plain-HTTP status listener, or the
status-server sidecar): `openssl verify -crl_download` follows the CRL distribution point and
`openssl ocsp -url` asks the AIA responder; both see a certificate good, then revoked."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID

from acme_server.services.inventory import certificates, edits
from ca_core.revocation import RevocationReason
from tests.status.conftest import StatusStack
from tests.tools import openssl


async def run_openssl(*args: str | Path) -> str:
    """openssl in a thread: the server under test runs on this test's event loop."""
    result = await asyncio.to_thread(openssl, *args, check=False)
    return result.stdout + result.stderr


async def verify_with_crl_download(cert: Path, chain: Path) -> str:
    return await run_openssl("verify", "-verbose", "-crl_check", "-crl_download", "-CAfile", chain, cert)


def ocsp_url(info: certificates.CertificateInfo) -> str:
    leaf = x509.load_pem_x509_certificate(info.certificate_pem.encode())
    aia = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    return next(
        str(d.access_location.value) for d in aia if d.access_method == AuthorityInformationAccessOID.OCSP
    )


async def ask_ocsp(stack: StatusStack, cert: Path, issuer: Path, url: str, *extra: str) -> str:
    return await run_openssl(
        "ocsp", *extra, "-issuer", issuer, "-cert", cert, "-url", url, "-CAfile", stack.root_pem
    )


async def test_issued_certificates_name_the_plain_http_status_urls(stack: StatusStack) -> None:
    info = await stack.issue()
    leaf = x509.load_pem_x509_certificate(info.certificate_pem.encode())
    points = leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name[0].value == f"{stack.status_url}/crl/{info.ca_id}.crl"  # type: ignore[index]
    assert ocsp_url(info) == f"{stack.status_url}/ocsp"


async def test_openssl_crl_download_passes_then_reports_revoked(stack: StatusStack) -> None:
    info = await stack.issue("crl.example.internal")
    cert, _, chain = await stack.files(info)
    output = await verify_with_crl_download(cert, chain)
    assert output.strip().endswith(f"{cert}: OK"), output
    await edits.revoke_certificate(stack.rt, info.id, RevocationReason.KEY_COMPROMISE, source="cli")
    output = await verify_with_crl_download(cert, chain)
    assert "certificate revoked" in output, output
    assert ": OK" not in output


async def test_openssl_ocsp_reports_good_then_revoked_with_reason(stack: StatusStack) -> None:
    info = await stack.issue("ocsp.example.internal")
    cert, issuer, _ = await stack.files(info)
    output = await ask_ocsp(stack, cert, issuer, ocsp_url(info))
    assert "Response verify OK" in output and f"{cert}: good" in output, output
    assert "nonce" not in output.lower()  # the nonce openssl sent came back
    await edits.revoke_certificate(stack.rt, info.id, RevocationReason.SUPERSEDED, source="cli")
    output = await ask_ocsp(stack, cert, issuer, ocsp_url(info))
    assert f"{cert}: revoked" in output and "Reason: superseded" in output, output
    output = await ask_ocsp(stack, cert, issuer, ocsp_url(info), "-sha256")  # SHA-256 CertID, same answer
    assert f"{cert}: revoked" in output, output


async def test_openssl_ocsp_answers_unknown_for_a_serial_never_issued(stack: StatusStack) -> None:
    info = await stack.issue("known.example.internal")
    _, issuer, _ = await stack.files(info)
    output = await run_openssl(
        "ocsp",
        "-issuer",
        issuer,
        "-serial",
        "0x1234567890",
        "-url",
        ocsp_url(info),
        "-CAfile",
        stack.root_pem,
    )
    assert "0x1234567890: unknown" in output, output


@pytest.mark.parametrize("status_mode", ["embedded"])
async def test_openssl_accepts_a_delegated_responder(stack: StatusStack) -> None:
    """--ocsp-responder delegated: the response is signed by an id-kp-OCSPSigning certificate the CA
    issued, sent along in the response; openssl chains it to the root through the issuer."""
    stack.rt.ocsp_responder = "delegated"
    info = await stack.issue("delegated.example.internal")
    cert, issuer, _ = await stack.files(info)
    output = await ask_ocsp(stack, cert, issuer, ocsp_url(info))
    assert "Response verify OK" in output and f"{cert}: good" in output, output
    await edits.revoke_certificate(stack.rt, info.id, RevocationReason.KEY_COMPROMISE)
    output = await ask_ocsp(stack, cert, issuer, ocsp_url(info), "-resp_text")
    assert f"{cert}: revoked" in output and "Reason: keyCompromise" in output, output
    assert "OCSP responder for ACME Server Dev" in output  # the delegated signer, not the CA
