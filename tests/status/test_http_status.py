"""The status endpoints on the wire: CRL caching headers and validators, OCSP over GET and POST with
exact response statuses, renewalInfo on the sidecar, problem documents for what is not there."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from datetime import timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from acme_server.services.config import ca_creation, cas
from acme_server.services.inventory import certificates, edits
from acme_server.services.status import crls
from ca_core.keyprotect import KeyEncryptionKey
from ca_core.renewal_info import cert_id
from ca_core.request import Subject
from ca_core.revocation import RevocationReason
from tests.status.conftest import StatusStack


def request_der(
    info: certificates.CertificateInfo, algorithm: hashes.HashAlgorithm, nonce: bytes | None
) -> bytes:
    leaf = x509.load_pem_x509_certificate(info.certificate_pem.encode())
    issuer = x509.load_pem_x509_certificates(info.chain_pem.encode())[0]
    builder = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, algorithm)
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(Encoding.DER)


async def test_crl_is_served_with_validators_and_cache_lifetimes(stack: StatusStack) -> None:
    ca = await cas.get_ca(stack.rt, "dev-intermediate")
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(f"{stack.status_url}/crl/{ca.id}.crl")
        assert response.status_code == 200 and response.headers["content-type"] == "application/pkix-crl"
        crl = x509.load_der_x509_crl(response.content)
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        assert response.headers["etag"] == f'"{ca.id}-{number}"'
        assert parsedate_to_datetime(response.headers["last-modified"]) == crl.last_update_utc
        assert parsedate_to_datetime(response.headers["expires"]) == crl.next_update_utc
        assert response.headers["cache-control"] == "public, max-age=300, no-transform"
        unchanged = await http.get(response.url, headers={"If-None-Match": response.headers["etag"]})
        assert unchanged.status_code == 304 and unchanged.content == b""
        since = await http.get(response.url, headers={"If-Modified-Since": response.headers["last-modified"]})
        assert since.status_code == 304
        earlier = format_datetime(crl.last_update_utc - timedelta(hours=1), usegmt=True)
        assert (await http.get(response.url, headers={"If-Modified-Since": earlier})).status_code == 200
        pem = await http.get(f"{stack.status_url}/crl/{ca.id}.pem")
        assert (
            pem.text.startswith("-----BEGIN X509 CRL-----")
            and pem.headers["etag"] == f'"{ca.id}-{number}-pem"'
        )
        # A revocation publishes a new CRL: the old validator no longer matches.
        info = await stack.issue()
        await edits.revoke_certificate(stack.rt, info.id, RevocationReason.UNSPECIFIED)
        changed = await http.get(response.url, headers={"If-None-Match": response.headers["etag"]})
        assert changed.status_code == 200 and changed.headers["etag"] == f'"{ca.id}-{number + 1}"'


async def test_main_https_server_serves_the_same_crl(stack: StatusStack) -> None:
    ca = await cas.get_ca(stack.rt, "dev-intermediate")
    over_https = await stack.http.get(f"{stack.main_url}/crl/{ca.id}.crl")
    async with httpx.AsyncClient(timeout=30) as http:
        over_http = await http.get(f"{stack.status_url}/crl/{ca.id}.crl")
    assert over_https.status_code == 200 and over_https.content == over_http.content


@pytest.mark.parametrize("algorithm", [hashes.SHA1(), hashes.SHA256()], ids=["sha1", "sha256"])
async def test_ocsp_post_and_get_answer_alike(stack: StatusStack, algorithm: hashes.HashAlgorithm) -> None:
    info = await stack.issue()
    issuer = x509.load_pem_x509_certificates(info.chain_pem.encode())[0]
    async with httpx.AsyncClient(timeout=30) as http:
        with_nonce = request_der(info, algorithm, b"0123456789abcdef")
        posted = await http.post(
            f"{stack.status_url}/ocsp",
            content=with_nonce,
            headers={"Content-Type": "application/ocsp-request"},
        )
        assert posted.status_code == 200 and posted.headers["content-type"] == "application/ocsp-response"
        assert posted.headers["cache-control"] == "no-store"
        answer = ocsp.load_der_ocsp_response(posted.content)
        assert answer.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
        assert answer.certificate_status is ocsp.OCSPCertStatus.GOOD
        assert answer.serial_number == int(info.serial, 16)
        assert type(answer.hash_algorithm) is type(algorithm)
        assert answer.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"0123456789abcdef"
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        assert answer.responder_key_hash == ski  # signed by the issuing CA (openssl checks the signature)
        plain = base64.b64encode(request_der(info, algorithm, None)).decode()
        got = await http.get(f"{stack.status_url}/ocsp/{quote(plain, safe='')}")
        assert got.status_code == 200
        assert got.headers["cache-control"].startswith("public, max-age=")
        assert "last-modified" in got.headers and "expires" in got.headers
        assert ocsp.load_der_ocsp_response(got.content).certificate_status is ocsp.OCSPCertStatus.GOOD


async def test_ocsp_protocol_errors_are_ocsp_error_responses(stack: StatusStack) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        garbage = await http.post(f"{stack.status_url}/ocsp", content=b"not der")
        assert garbage.status_code == 200
        status = ocsp.load_der_ocsp_response(garbage.content).response_status
        assert status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
        bad_path = await http.get(f"{stack.status_url}/ocsp/%%%")
        assert (
            ocsp.load_der_ocsp_response(bad_path.content).response_status
            is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
        )
        huge = await http.post(f"{stack.status_url}/ocsp", content=b"0" * 20000)
        assert (
            ocsp.load_der_ocsp_response(huge.content).response_status
            is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
        )
        # A request about a CA we do not run: "unauthorized" (RFC 6960 §2.3).
        foreign = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
            b"\x01" * 20, b"\x02" * 20, 1234, hashes.SHA1()
        )
        answer = await http.post(
            f"{stack.status_url}/ocsp", content=foreign.build().public_bytes(Encoding.DER)
        )
        assert (
            ocsp.load_der_ocsp_response(answer.content).response_status
            is ocsp.OCSPResponseStatus.UNAUTHORIZED
        )


async def test_unknown_paths_and_cas_are_problem_documents(stack: StatusStack) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        for path in ("/crl/nope.crl", "/crl/dev-root.txt", "/acme/directory"):
            response = await http.get(stack.status_url + path)
            assert response.status_code == 404, path
            assert response.headers["content-type"] == "application/problem+json"


async def test_renewal_info_is_served_on_the_status_listener_too(stack: StatusStack) -> None:
    info = await stack.issue()
    leaf = x509.load_pem_x509_certificate(info.certificate_pem.encode())
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(f"{stack.status_url}/acme/renewal-info/{cert_id(leaf)}")
    assert response.status_code == 200 and response.headers["retry-after"] == "3600"
    main = await stack.http.get(f"{stack.main_url}/acme/renewal-info/{cert_id(leaf)}")
    assert main.json() == response.json()


@pytest.mark.parametrize("status_mode", ["sidecar"])
async def test_the_sidecar_writes_nothing(stack: StatusStack) -> None:
    """Every answer above came from stored data: a CA whose CRL the main server has not published yet
    is a 404 on the sidecar (the main server publishes it), never a CRL the sidecar signed."""
    created = await ca_creation.create_intermediate_ca(
        stack.rt, parent="dev-root", name="late", subject=Subject(common_name="Late")
    )
    async with httpx.AsyncClient(timeout=30) as http:
        missing = await http.get(f"{stack.status_url}/crl/{created.id}.crl")
        assert missing.status_code == 404
        assert missing.json()["detail"] == f"no published CRL of CA {created.id!r}"
        published = await crls.generate_crl(stack.rt, created.id)
        found = await http.get(f"{stack.status_url}/crl/{created.id}.crl")
        assert found.status_code == 200 and found.content == published.der
    assert await crls.list_crls(stack.rt, created.id) == [published]


def status_server(*args: str, kek: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACME_SERVER")}
    env["ACME_SERVER_KEK"] = kek
    command = [sys.executable, "-m", "acme_server.cli", "status-server", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)


def test_status_server_refuses_to_migrate_or_run_without_a_key(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'new.db'}"
    unmigrated = status_server("--database-url", database, kek=KeyEncryptionKey.generate().to_text())
    assert unmigrated.returncode == 1
    assert unmigrated.stderr.startswith("error: the database schema is at revision None, not ")
    assert "start the main server (acme-server serve) once" in unmigrated.stderr
    bad_key = status_server("--database-url", database, kek="not-a-key")
    assert bad_key.returncode == 1 and bad_key.stderr.startswith("error: kek:")
    bad_listen = status_server("--listen", "nowhere", kek="not-a-key")
    assert bad_listen.returncode == 1 and bad_listen.stderr.startswith("error: listen:")
