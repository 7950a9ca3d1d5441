"""CSR parsing: requests from openssl and from build_csr, and every way one is refused."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ca_core.csr import build_csr, parse_csr
from ca_core.errors import BadCSR, BadPublicKey
from ca_core.keys import KeyAlgorithm, check_key, generate_key, public_key_der
from ca_core.request import Subject, SubjectAltNames
from tests.ca_core.helpers import openssl, openssl_text, write_pem

SANS = "DNS:web.example.internal,DNS:www.example.internal,IP:10.0.0.5,IP:2001:db8::1,email:ops@example.internal,URI:spiffe://example.internal/web"


def openssl_csr(tmp_path: Path, *args: str) -> Path:
    path = tmp_path / "req.csr"
    openssl(
        "req", "-new", "-nodes", "-keyout", tmp_path / "req.key", "-out", path,
        "-subj", "/C=DE/ST=Berlin/L=Berlin/O=Example GmbH/OU=Ops/CN=web.example.internal", *args,
    )  # fmt: skip
    return path


def test_csr_from_openssl_is_parsed_with_subject_sans_and_key(tmp_path: Path) -> None:
    path = openssl_csr(
        tmp_path, "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-addext", f"subjectAltName={SANS}"
    )
    request = parse_csr(path.read_bytes())
    assert request.subject == Subject(
        common_name="web.example.internal",
        organization="Example GmbH",
        organizational_unit="Ops",
        country="DE",
        state="Berlin",
        locality="Berlin",
    )
    assert request.sans == SubjectAltNames(
        dns=("web.example.internal", "www.example.internal"),
        ip=(ipaddress.ip_address("10.0.0.5"), ipaddress.ip_address("2001:db8::1")),
        email=("ops@example.internal",),
        uri=("spiffe://example.internal/web",),
    )
    assert check_key(request.public_key) is KeyAlgorithm.EC_secp384r1


def test_der_csr_is_parsed(tmp_path: Path) -> None:
    pem_path = openssl_csr(tmp_path, "-newkey", "rsa:2048")
    der_path = tmp_path / "req.der"
    openssl("req", "-in", pem_path, "-outform", "DER", "-out", der_path)
    request = parse_csr(der_path.read_bytes())
    assert request.subject.common_name == "web.example.internal"
    assert request.sans == SubjectAltNames()
    assert check_key(request.public_key) is KeyAlgorithm.RSA_2048


@pytest.mark.parametrize(
    "algorithm", [KeyAlgorithm.RSA_3072, KeyAlgorithm.EC_prime256v1, KeyAlgorithm.ED25519]
)
def test_built_csr_verifies_in_openssl_and_parses_back(algorithm: KeyAlgorithm, tmp_path: Path) -> None:
    key = generate_key(algorithm)
    sans = SubjectAltNames(dns=("a.example.internal",), ip=(ipaddress.ip_address("192.0.2.1"),))
    csr = build_csr(Subject(common_name="a.example.internal", organization="Example"), sans, key)
    path = write_pem(tmp_path, "built.csr", csr)
    assert (
        "Certificate request self-signature verify OK"
        in openssl("req", "-in", path, "-noout", "-verify").stderr
    )
    request = parse_csr(path.read_bytes())
    assert request.sans == sans
    assert request.subject == Subject(common_name="a.example.internal", organization="Example")
    assert public_key_der(request.public_key) == public_key_der(key.public_key())


def test_built_csr_with_empty_subject_marks_san_critical(tmp_path: Path) -> None:
    csr = build_csr(
        Subject(), SubjectAltNames(dns=("only-san.example.internal",)), generate_key(KeyAlgorithm.ED25519)
    )
    text = openssl_text("req", write_pem(tmp_path, "empty.csr", csr))
    assert "X509v3 Subject Alternative Name: critical DNS:only-san.example.internal" in text
    assert parse_csr(csr.public_bytes(serialization.Encoding.DER)).subject == Subject()


def test_tampered_csr_signature_does_not_verify() -> None:
    key = generate_key(KeyAlgorithm.RSA_2048)
    der = bytearray(
        build_csr(Subject(common_name="x.example"), SubjectAltNames(), key).public_bytes(
            serialization.Encoding.DER
        )
    )
    der[-1] ^= 0x01  # the last octet of the RSA signature
    with pytest.raises(BadCSR) as caught:
        parse_csr(bytes(der))
    assert caught.value.detail == "CSR signature does not verify"


def test_csr_with_swapped_subject_does_not_verify() -> None:
    """A request re-signed by nobody: subject edited after signing (the signed data changed)."""
    key = generate_key(KeyAlgorithm.EC_prime256v1)
    der = build_csr(Subject(common_name="aaaa.example"), SubjectAltNames(), key).public_bytes(
        serialization.Encoding.DER
    )
    tampered = der.replace(b"aaaa.example", b"evil.example")
    with pytest.raises(BadCSR, match="CSR signature does not verify"):
        parse_csr(tampered)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage",
        b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        b"\x30\x03\x02\x01\x00",
    ],
)
def test_garbage_is_not_a_csr(data: bytes) -> None:
    with pytest.raises(BadCSR) as caught:
        parse_csr(data)
    assert caught.value.detail == "not a PEM or DER PKCS#10 certificate request"


def test_der_only_refuses_a_pem_csr() -> None:
    """RFC 8555 §7.4: finalize carries DER; the same request as PEM text is refused there."""
    csr = build_csr(
        Subject(common_name="a.example"),
        SubjectAltNames(dns=("a.example",)),
        generate_key(KeyAlgorithm.EC_prime256v1),
    )
    assert parse_csr(csr.public_bytes(serialization.Encoding.DER), der_only=True).sans.dns == ("a.example",)
    with pytest.raises(BadCSR) as caught:
        parse_csr(csr.public_bytes(serialization.Encoding.PEM), der_only=True)
    assert caught.value.detail == "not a DER PKCS#10 certificate request"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        (x509.OtherName(x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3"), b"\x0c\x03a@b"), "otherName"),
        (x509.DirectoryName(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dir")])), "directoryName"),
        (x509.RegisteredID(x509.ObjectIdentifier("1.2.3.4")), "registeredID"),
    ],
)
def test_unsupported_san_type_is_refused_by_name(name: x509.GeneralName, kind: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x.example")]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("x.example"), name]), critical=False)
        .sign(key, hashes.SHA256())
    )
    with pytest.raises(BadCSR) as caught:
        parse_csr(csr.public_bytes(serialization.Encoding.PEM))
    assert caught.value.detail == (
        f"CSR asks for a {kind} subject alternative name; only DNS, IP, email and URI are issued"
    )


def test_openssl_othername_san_is_refused(tmp_path: Path) -> None:
    path = openssl_csr(
        tmp_path, "-newkey", "rsa:2048", "-addext", "subjectAltName=otherName:1.2.3.4;UTF8:upn"
    )
    with pytest.raises(BadCSR, match="otherName"):
        parse_csr(path.read_bytes())


@pytest.mark.parametrize(("newkey", "detail"), [("rsa:1024", "got 1024"), ("rsa:1536", "got 1536")])
def test_csr_with_weak_key_is_refused(newkey: str, detail: str, tmp_path: Path) -> None:
    path = openssl_csr(tmp_path, "-newkey", newkey)
    with pytest.raises(BadPublicKey) as caught:
        parse_csr(path.read_bytes())
    assert caught.value.detail == f"RSA keys must be 2048, 3072 or 4096 bits, {detail}"


def test_csr_with_secp256k1_key_is_refused(tmp_path: Path) -> None:
    path = openssl_csr(tmp_path, "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1")
    with pytest.raises(BadPublicKey, match="EC curve secp256k1 is not supported"):
        parse_csr(path.read_bytes())
