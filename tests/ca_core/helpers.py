"""Shared helpers of the ca_core tests: real openssl and keytool runs, PEM files in tmp_path, and small
builders for the CA chains and profiles most tests sign with."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ca_core.authority import CASettings, CertificateAuthority, create_intermediate, create_root
from ca_core.keys import KeyAlgorithm, PrivateKey, generate_key
from ca_core.profile import Profile
from ca_core.request import CertificateRequest, Subject, SubjectAltNames
from ca_core.serials import random_serial
from ca_core.signer import SoftwareSigner
from tests.tools import openssl, require_tool, run

# Certificates are checked by openssl against the wall clock, so "now" is real (a little in the past,
# so that notBefore is never ahead of openssl's clock).
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
CRL_URL = "http://pki.example.internal/crl/inter.crl"
OCSP_URL = "http://pki.example.internal/ocsp"
ISSUER_URL = "http://pki.example.internal/ca/inter.cer"

Pemable = x509.Certificate | x509.CertificateRevocationList | x509.CertificateSigningRequest | PrivateKey


def keytool(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    require_tool("keytool")
    return run("keytool", *args, check=check)


def pem(*objects: Pemable) -> bytes:
    """The PEM of certificates, CRLs, CSRs and (unencrypted PKCS#8) private keys, concatenated."""
    out = b""
    for item in objects:
        if isinstance(
            item, x509.Certificate | x509.CertificateRevocationList | x509.CertificateSigningRequest
        ):
            out += item.public_bytes(serialization.Encoding.PEM)
        else:
            out += item.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
    return out


def write_pem(directory: Path, name: str, *objects: Pemable) -> Path:
    path = directory / name
    path.write_bytes(pem(*objects))
    return path


def openssl_text(command: str, path: Path) -> str:
    """`openssl <command> -noout -text` (x509, req, crl) with every run of whitespace collapsed to one
    space, so assertions read like the printout without depending on its indentation."""
    return " ".join(openssl(command, "-in", path, "-noout", "-text").stdout.split())


def x509_text(path: Path) -> str:
    return openssl_text("x509", path)


def make_root(
    algorithm: KeyAlgorithm = KeyAlgorithm.EC_prime256v1,
    *,
    name: str = "Test Root",
    settings: CASettings | None = None,
    validity: timedelta = timedelta(days=3650),
    enabled: bool = True,
    ca_id: str = "root",
) -> CertificateAuthority:
    settings = settings or CASettings()
    signer = SoftwareSigner(generate_key(algorithm))
    certificate = create_root(
        Subject(common_name=name, organization="ca_core tests"),
        signer,
        now=NOW,
        validity=validity,
        serial=random_serial(),
        settings=settings,
    )
    return CertificateAuthority(ca_id, certificate, (), signer, settings, enabled)


def make_intermediate(
    parent: CertificateAuthority,
    algorithm: KeyAlgorithm = KeyAlgorithm.EC_prime256v1,
    *,
    name: str = "Test Intermediate",
    settings: CASettings | None = None,
    validity: timedelta = timedelta(days=1825),
    enabled: bool = True,
    ca_id: str = "inter",
) -> CertificateAuthority:
    """An intermediate under `parent`, by default publishing CRL, OCSP and issuer URLs."""
    settings = settings or CASettings(crl_url=CRL_URL, ocsp_url=OCSP_URL, issuer_url=ISSUER_URL)
    key = generate_key(algorithm)
    certificate = create_intermediate(
        parent,
        Subject(common_name=name, organization="ca_core tests"),
        key.public_key(),
        now=NOW,
        validity=validity,
        serial=random_serial(),
        settings=settings,
    )
    chain = (parent.certificate, *parent.chain)
    return CertificateAuthority(ca_id, certificate, chain, SoftwareSigner(key), settings, enabled)


def web_profile(ca_id: str = "inter", **overrides: Any) -> Profile:
    return Profile(name="web", ca_id=ca_id, **overrides)


def leaf_request(
    algorithm: KeyAlgorithm = KeyAlgorithm.EC_prime256v1,
    *,
    common_name: str | None = "web.example.internal",
    dns: tuple[str, ...] = ("web.example.internal",),
) -> tuple[CertificateRequest, PrivateKey]:
    key = generate_key(algorithm)
    request = CertificateRequest(Subject(common_name=common_name), SubjectAltNames(dns=dns), key.public_key())
    return request, key
