"""Certificate details equal what openssl prints about the same certificate."""

from __future__ import annotations

import ipaddress
from datetime import UTC
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ca_core.authority import CertificateAuthority
from ca_core.inspect import inspect_certificate
from ca_core.issuance import issue
from ca_core.keys import KeyAlgorithm, generate_key
from ca_core.profile import KeyUsage
from ca_core.request import CertificateRequest, Subject, SubjectAltNames
from ca_core.serials import random_serial
from tests.ca_core.helpers import (
    CRL_URL,
    ISSUER_URL,
    NOW,
    OCSP_URL,
    make_intermediate,
    make_root,
    openssl,
    web_profile,
    write_pem,
    x509_text,
)


@pytest.fixture(scope="module")
def root() -> CertificateAuthority:
    return make_root(KeyAlgorithm.RSA_2048)


def openssl_field(path: Path, *option: str) -> str:
    """The value after '=' of `openssl x509 -noout <option>` (fingerprints, serial)."""
    return openssl("x509", "-in", path, "-noout", *option).stdout.strip().split("=", 1)[1]


@pytest.mark.parametrize(
    ("algorithm", "signature"),
    [
        (KeyAlgorithm.RSA_2048, "sha256WithRSAEncryption"),
        (KeyAlgorithm.EC_prime256v1, "ecdsa-with-SHA256"),
        (KeyAlgorithm.EC_secp384r1, "ecdsa-with-SHA384"),
        (KeyAlgorithm.ED25519, "ED25519"),
    ],
)
def test_fingerprints_serial_and_signature_algorithm_match_openssl(
    root: CertificateAuthority, algorithm: KeyAlgorithm, signature: str, tmp_path: Path
) -> None:
    inter = make_intermediate(root, algorithm)
    request = CertificateRequest(
        Subject(common_name="web.example.internal"),
        SubjectAltNames(dns=("web.example.internal",)),
        generate_key(algorithm).public_key(),
    )
    certificate = issue(inter, web_profile(), request, serial=random_serial(), now=NOW).certificate
    path = write_pem(tmp_path, "leaf.pem", certificate)
    details = inspect_certificate(certificate)
    assert details.fingerprint_sha256 == openssl_field(path, "-fingerprint", "-sha256")
    assert details.fingerprint_sha1 == openssl_field(path, "-fingerprint", "-sha1")
    assert details.serial == openssl_field(path, "-serial").lower()
    assert f"Signature Algorithm: {signature}" in x509_text(path)
    assert details.signature_algorithm == signature
    assert details.key_algorithm == algorithm.value


def test_leaf_details(root: CertificateAuthority, tmp_path: Path) -> None:
    inter = make_intermediate(root)
    request = CertificateRequest(
        Subject(common_name="web.example.internal", organization="Example", country="DE"),
        SubjectAltNames(
            dns=("web.example.internal",),
            ip=(ipaddress.ip_address("10.0.0.5"),),
            email=("ops@example.internal",),
            uri=("https://web.example.internal/",),
        ),
        generate_key(KeyAlgorithm.RSA_3072).public_key(),
    )
    certificate = issue(inter, web_profile(), request, serial=0x1234, now=NOW).certificate
    details = inspect_certificate(certificate)
    text = x509_text(write_pem(tmp_path, "leaf.pem", certificate))
    assert details.common_name == "web.example.internal"
    assert details.subject == request.subject
    assert details.subject_dn == "CN=web.example.internal,O=Example,C=DE"
    assert details.sans == request.sans
    assert details.serial == "1234"
    assert details.issuer == "CN=Test Intermediate,O=ca_core tests"
    assert details.issuer_common_name == "Test Intermediate"
    assert details.not_before == NOW and details.not_before.tzinfo is UTC
    assert details.not_after == certificate.not_valid_after_utc
    assert not details.is_ca and details.path_length is None
    assert details.key_usages == (KeyUsage.DIGITAL_SIGNATURE.value, KeyUsage.KEY_ENCIPHERMENT.value)
    assert details.extended_key_usages == ("server_auth", "client_auth")
    assert details.key_algorithm == "RSA_3072"
    assert not details.self_signed
    assert details.crl_urls == (CRL_URL,)
    assert details.ocsp_urls == (OCSP_URL,)
    assert details.ca_issuer_urls == (ISSUER_URL,)
    ski = text.split("X509v3 Subject Key Identifier: ")[1].split()[0]
    aki = text.split("X509v3 Authority Key Identifier: ")[1].split()[0].removeprefix("keyid:")
    assert details.subject_key_id == ski.replace(":", "").lower()
    assert details.authority_key_id == aki.replace(":", "").lower()


def test_root_details(root: CertificateAuthority) -> None:
    details = inspect_certificate(root.certificate)
    assert details.is_ca and details.self_signed
    assert details.key_usages == ("digital_signature", "key_cert_sign", "crl_sign")
    assert details.extended_key_usages == ()
    assert details.crl_urls == details.ocsp_urls == details.ca_issuer_urls == ()
    assert details.subject_key_id == details.authority_key_id


def test_foreign_weak_certificate_is_described_not_refused(tmp_path: Path) -> None:
    path = tmp_path / "legacy.pem"
    openssl(
        "req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout", tmp_path / "legacy.key",
        "-out", path, "-subj", "/CN=legacy.example", "-days", "30", "-sha1",
    )  # fmt: skip
    details = inspect_certificate(x509.load_pem_x509_certificate(path.read_bytes()))
    assert details.key_algorithm == "RSA_1024"
    assert details.signature_algorithm == "sha1WithRSAEncryption"
    assert details.self_signed
    assert details.fingerprint_sha256 == openssl_field(path, "-fingerprint", "-sha256")


def test_unknown_eku_is_shown_as_dotted_oid_and_other_curves_by_name() -> None:
    key = ec.generate_private_key(ec.SECP256K1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "odd.example")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(NOW)
        .not_valid_after(NOW.replace(year=NOW.year + 1))
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, x509.ObjectIdentifier("1.3.6.1.4.1.99999.1")]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    details = inspect_certificate(certificate)
    assert details.extended_key_usages == ("server_auth", "1.3.6.1.4.1.99999.1")
    assert details.key_algorithm == "EC_secp256k1"
    assert details.key_usages == ()
    assert details.subject_key_id is None and details.authority_key_id is None
    assert details.serial == "07"
