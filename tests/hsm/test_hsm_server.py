"""A server whose CAs keep their keys in a SoftHSM2 token: its own HTTPS certificate, certificates
issued over the REST API, the CRL and OCSP responses of its status listener are all signed in the
token and verified by openssl; a restarted server (a new process) logs in again and signs with the
same key; a server given the wrong PIN does not start."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.hsm.softhsm import (
    TOKEN,
    Server,
    SoftToken,
    acme_json,
    acme_server,
    api_client,
    chain_verifies,
    create_ca,
    revoked_by_crl,
)
from tests.tools import openssl, write

CM = "/api/v1/cert-manager"


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def csr_pem(name: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def issue_over_api(api: httpx.Client, name: str, directory: Path) -> tuple[str, Path]:
    """A certificate for a CSR through the REST API: its id and its PEM file."""
    created = api.post(
        f"{CM}/certificate-requests", json={"profile": "default", "csr": {"pem": csr_pem(name)}}
    )
    assert created.status_code == 201, created.text
    certificate_id = created.json()["certificateId"]
    exported = api.get(f"{CM}/certificates/{certificate_id}/export")
    assert exported.status_code == 200, exported.text
    return certificate_id, write(directory / f"{name}.pem", exported.json()["certificate"])


def test_a_token_backed_ca_serves_signs_and_survives_a_restart(tmp_path: Path) -> None:
    token = SoftToken(tmp_path / "softhsm")
    env, data = token.with_pin(), tmp_path / "data"
    create_ca(env, data, "hsm-root", f"pkcs11:token={TOKEN};object=root")
    issuing_uri = f"pkcs11:token={TOKEN};object=issuing"
    inter = create_ca(
        env, data, "hsm-issuing", issuing_uri, "--parent", "hsm-root", "--key-algorithm", "RSA_3072"
    )
    # The names `serve` issues its own HTTPS certificate from: that certificate is signed in the token too.
    acme_server(env, data, "policy", "create", "default")
    acme_server(env, data, "profile", "create", "default", "--ca", "hsm-issuing", "--policy", "default")
    secret = acme_json(env, data, "token", "create", "--role", "operator")["token"]
    chain = write(tmp_path / "chain.pem", acme_server(env, data, "ca", "show", "hsm-issuing", "--pem").stdout)
    issuing = write(
        tmp_path / "issuing.pem",
        x509.load_pem_x509_certificates(chain.read_bytes())[0].public_bytes(serialization.Encoding.PEM),
    )

    port, status_port = free_ports(2)
    server = Server(env, data, port, status_port)
    try:
        root = data / "root.pem"
        assert chain_verifies(root, chain, data / "tls" / "server.pem")
        api = api_client(server, secret)
        certificate_id, leaf = issue_over_api(api, "app.example.internal", tmp_path)
        assert chain_verifies(root, chain, leaf)

        # OCSP from the status listener, signed by the token key (RFC 6960 §4.2.2.2: the CA itself).
        request = tmp_path / "ocsp.req"
        openssl("ocsp", "-issuer", issuing, "-cert", leaf, "-no_nonce", "-reqout", request)
        answer = httpx.post(
            server.status_url + "/ocsp",
            content=request.read_bytes(),
            headers={"Content-Type": "application/ocsp-request"},
        )
        assert answer.status_code == 200
        response = write(tmp_path / "ocsp.der", answer.content)
        checked = openssl(
            "ocsp",
            "-respin",
            response,
            "-issuer",
            issuing,
            "-cert",
            leaf,
            "-no_nonce",
            "-CAfile",
            root,
            "-verify_other",
            chain,
        )
        assert "Response verify OK" in checked.stderr + checked.stdout
        assert f"{leaf}: good" in checked.stdout

        revoked = api.post(
            f"{CM}/certificates/{certificate_id}/revoke", json={"revocationReason": "KEY_COMPROMISE"}
        )
        assert revoked.status_code == 200, revoked.text
        crl = httpx.get(f"{server.status_url}/crl/{inter['id']}.crl")
        assert crl.status_code == 200
        crl_pem = write(
            tmp_path / "crl.pem", x509.load_der_x509_crl(crl.content).public_bytes(serialization.Encoding.PEM)
        )
        bundle = write(tmp_path / "bundle.pem", root.read_text() + chain.read_text())
        assert revoked_by_crl(bundle, crl_pem, leaf)
    finally:
        server.stop()

    # New processes (two workers) log in to the token again and sign with the same key.
    server = Server(env, data, port, status_port, "--workers", "2")
    try:
        api = api_client(server, secret)
        for name in ("after-restart.example.internal", "again.example.internal", "third.example.internal"):
            assert chain_verifies(root, chain, issue_over_api(api, name, tmp_path)[1])
    finally:
        server.stop()

    wrong = subprocess.run(
        [
            sys.executable,
            "-m",
            "acme_server.cli",
            "serve",
            "--data-dir",
            str(data),
            "--listen",
            f"127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        env=token.with_pin("0000-wrong"),
        timeout=120,
    )
    assert wrong.returncode == 1
    assert wrong.stderr.splitlines() == [
        f"error: token '{TOKEN}': the PIN is wrong (from --pkcs11-pin-file or ACME_PKCS11_PIN)"
    ]
