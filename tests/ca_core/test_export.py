"""PEM bundles and PKCS#12 files, read back by openssl and by Java's keytool."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from ca_core.authority import CertificateAuthority
from ca_core.errors import InvalidSetting
from ca_core.export import certificates_pem, load_certificates_pem, pem_bundle, to_pkcs12
from ca_core.issuance import IssuedCertificate, issue
from ca_core.keys import KeyAlgorithm, load_private_key, public_key_der
from ca_core.serials import random_serial
from tests.ca_core.helpers import (
    NOW,
    keytool,
    leaf_request,
    make_intermediate,
    make_root,
    openssl,
    pem,
    web_profile,
)

PASSWORD = "correct horse"


@pytest.fixture(scope="module")
def inter() -> CertificateAuthority:
    return make_intermediate(make_root())


def managed(
    ca: CertificateAuthority, algorithm: KeyAlgorithm = KeyAlgorithm.EC_prime256v1
) -> IssuedCertificate:
    request, key = leaf_request(algorithm)
    return issue(ca, web_profile(), request, serial=random_serial(), now=NOW, private_key=key)


def write_p12(
    tmp_path: Path, issued: IssuedCertificate, *, with_key: bool = True, alias: str = "web server"
) -> Path:
    path = tmp_path / "bundle.p12"
    key = issued.private_key if with_key else None
    path.write_bytes(to_pkcs12(issued.certificate, issued.chain, key, password=PASSWORD, alias=alias))
    return path


def test_load_certificates_pem_keeps_order(inter: CertificateAuthority) -> None:
    text = inter.chain_pem().encode()
    assert load_certificates_pem(text) == [inter.certificate, *inter.chain]
    assert certificates_pem(load_certificates_pem(text)) == text.decode()


@pytest.mark.parametrize(
    "data", [b"", b"hello", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]
)
def test_text_without_a_certificate_is_refused(data: bytes) -> None:
    with pytest.raises(InvalidSetting) as caught:
        load_certificates_pem(data)
    assert caught.value.field == "certificate"


def test_pem_bundle_orders_certificate_chain_and_key(inter: CertificateAuthority) -> None:
    issued = managed(inter)
    bundle = pem_bundle(issued.certificate, issued.chain, issued.private_key)
    assert bundle.certificate == issued.certificate_pem
    assert bundle.chain == issued.chain_pem
    assert bundle.fullchain == issued.fullchain_pem
    assert bundle.private_key is not None and bundle.private_key.startswith("-----BEGIN PRIVATE KEY-----")
    assert bundle.full_bundle == issued.certificate_pem + issued.chain_pem + bundle.private_key
    key = load_private_key(bundle.private_key.encode())
    assert issued.private_key is not None
    assert public_key_der(key.public_key()) == public_key_der(issued.private_key.public_key())


def test_pem_bundle_without_key(inter: CertificateAuthority) -> None:
    issued = managed(inter)
    bundle = pem_bundle(issued.certificate, issued.chain)
    assert bundle.private_key is None
    assert bundle.full_bundle == bundle.fullchain


def test_pkcs12_needs_a_password(inter: CertificateAuthority) -> None:
    issued = managed(inter)
    with pytest.raises(InvalidSetting) as caught:
        to_pkcs12(issued.certificate, issued.chain, issued.private_key, password="", alias="x")
    assert caught.value.field == "password"


@pytest.mark.parametrize(
    "algorithm", [KeyAlgorithm.RSA_2048, KeyAlgorithm.EC_prime256v1, KeyAlgorithm.ED25519]
)
def test_openssl_reads_the_pkcs12_certificate_and_key(
    inter: CertificateAuthority, algorithm: KeyAlgorithm, tmp_path: Path
) -> None:
    issued = managed(inter, algorithm)
    p12 = write_p12(tmp_path, issued)
    client = openssl("pkcs12", "-in", p12, "-nokeys", "-clcerts", "-passin", f"pass:{PASSWORD}").stdout
    assert x509.load_pem_x509_certificates(client.encode()) == [issued.certificate]
    cas = openssl("pkcs12", "-in", p12, "-nokeys", "-cacerts", "-passin", f"pass:{PASSWORD}").stdout
    assert set(x509.load_pem_x509_certificates(cas.encode())) == set(issued.chain)
    key_pem = openssl("pkcs12", "-in", p12, "-nocerts", "-nodes", "-passin", f"pass:{PASSWORD}").stdout
    assert issued.private_key is not None
    assert public_key_der(load_private_key(key_pem.encode()).public_key()) == public_key_der(
        issued.private_key.public_key()
    )


def test_pkcs12_uses_pbes2_aes256_and_a_sha256_mac(inter: CertificateAuthority, tmp_path: Path) -> None:
    p12 = write_p12(tmp_path, managed(inter))
    info = openssl("pkcs12", "-in", p12, "-info", "-noout", "-passin", f"pass:{PASSWORD}").stderr
    assert "MAC: sha256" in info
    assert "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 100000, PRF hmacWithSHA256" in info
    assert "PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC" in info


def test_openssl_refuses_the_wrong_pkcs12_password(inter: CertificateAuthority, tmp_path: Path) -> None:
    p12 = write_p12(tmp_path, managed(inter))
    result = openssl("pkcs12", "-in", p12, "-nokeys", "-passin", "pass:wrong", check=False)
    assert result.returncode != 0
    assert "mac verify error" in result.stderr.lower()


@pytest.mark.parametrize(
    "algorithm", [KeyAlgorithm.RSA_2048, KeyAlgorithm.EC_prime256v1, KeyAlgorithm.ED25519]
)
def test_keytool_imports_the_pkcs12_key_entry_under_its_alias(
    inter: CertificateAuthority, algorithm: KeyAlgorithm, tmp_path: Path
) -> None:
    p12 = write_p12(tmp_path, managed(inter, algorithm), alias="web server")
    jks = tmp_path / "store.jks"
    keytool(
        "-importkeystore", "-noprompt",
        "-srckeystore", p12, "-srcstoretype", "PKCS12", "-srcstorepass", PASSWORD,
        "-destkeystore", jks, "-deststoretype", "JKS", "-deststorepass", "other-secret",
    )  # fmt: skip
    listing = keytool("-list", "-keystore", jks, "-storepass", "other-secret").stdout
    assert "Your keystore contains 1 entry" in listing
    assert "web server, " in listing and "PrivateKeyEntry" in listing
    verbose = keytool("-list", "-v", "-keystore", p12, "-storetype", "PKCS12", "-storepass", PASSWORD).stdout
    assert "Certificate chain length: 3" in verbose


def test_keytool_refuses_the_wrong_pkcs12_password(inter: CertificateAuthority, tmp_path: Path) -> None:
    p12 = write_p12(tmp_path, managed(inter))
    result = keytool("-list", "-keystore", p12, "-storetype", "PKCS12", "-storepass", "wrong", check=False)
    assert result.returncode != 0
    assert "password was incorrect" in (result.stdout + result.stderr)


def test_pkcs12_without_key_holds_trusted_certificates_keytool_sees(
    inter: CertificateAuthority, tmp_path: Path
) -> None:
    issued = managed(inter)
    p12 = write_p12(tmp_path, issued, with_key=False, alias="web")
    listing = keytool("-list", "-keystore", p12, "-storetype", "PKCS12", "-storepass", PASSWORD).stdout
    assert "Your keystore contains 3 entries" in listing
    for alias in ("web, ", "web-ca-1, ", "web-ca-2, "):
        assert alias in listing
    assert listing.count("trustedCertEntry") == 3
    certs = openssl("pkcs12", "-in", p12, "-nokeys", "-passin", f"pass:{PASSWORD}").stdout
    assert x509.load_pem_x509_certificates(certs.encode()) == [issued.certificate, *issued.chain]
    assert pem(issued.certificate) in certs.encode()
