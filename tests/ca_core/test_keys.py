"""Key generation, loading and the weak-key check, cross-checked with openssl."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, rsa, x25519

from ca_core.errors import BadPublicKey
from ca_core.keys import (
    KeyAlgorithm,
    check_key,
    checked_public_key,
    generate_key,
    key_algorithm_of,
    load_private_key,
    private_key_pem,
    public_key_der,
    public_key_pem,
)
from tests.ca_core.helpers import openssl

OPENSSL_DESCRIPTION = {
    KeyAlgorithm.RSA_2048: "Private-Key: (2048 bit, 2 primes)",
    KeyAlgorithm.RSA_3072: "Private-Key: (3072 bit, 2 primes)",
    KeyAlgorithm.RSA_4096: "Private-Key: (4096 bit, 2 primes)",
    KeyAlgorithm.EC_prime256v1: "NIST CURVE: P-256",
    KeyAlgorithm.EC_secp384r1: "NIST CURVE: P-384",
    KeyAlgorithm.ED25519: "ED25519 Private-Key:",
}


@pytest.mark.parametrize("algorithm", list(KeyAlgorithm))
def test_generated_key_has_its_algorithm_and_openssl_reads_it(
    algorithm: KeyAlgorithm, tmp_path: Path
) -> None:
    key = generate_key(algorithm)
    assert check_key(key.public_key()) is algorithm
    assert key_algorithm_of(key.public_key()) is algorithm
    path = tmp_path / "key.pem"
    path.write_bytes(private_key_pem(key))
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8
    assert OPENSSL_DESCRIPTION[algorithm] in openssl("pkey", "-in", path, "-noout", "-text").stdout


@pytest.mark.parametrize("algorithm", list(KeyAlgorithm))
def test_key_loads_back_from_pem_der_and_encrypted_pem(algorithm: KeyAlgorithm) -> None:
    key = generate_key(algorithm)
    expected = public_key_der(key.public_key())
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    encrypted = private_key_pem(key, b"s3cret")
    assert b"ENCRYPTED PRIVATE KEY" in encrypted
    for loaded in (
        load_private_key(private_key_pem(key)),
        load_private_key(der),
        load_private_key(encrypted, b"s3cret"),
    ):
        assert public_key_der(loaded.public_key()) == expected


@pytest.mark.parametrize(
    ("genpkey", "algorithm"),
    [
        (["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"], KeyAlgorithm.RSA_3072),
        (["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"], KeyAlgorithm.EC_secp384r1),
        (["-algorithm", "ED25519"], KeyAlgorithm.ED25519),
    ],
)
def test_key_generated_by_openssl_loads(genpkey: list[str], algorithm: KeyAlgorithm, tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    openssl("genpkey", *genpkey, "-out", path)
    key = load_private_key(path.read_bytes())
    assert check_key(key.public_key()) is algorithm


def test_traditional_pkcs1_and_sec1_keys_from_openssl_load(tmp_path: Path) -> None:
    rsa_path, ec_path = tmp_path / "rsa.pem", tmp_path / "ec.pem"
    openssl("genrsa", "-traditional", "-out", rsa_path, "2048")
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", ec_path)
    assert b"BEGIN RSA PRIVATE KEY" in rsa_path.read_bytes()
    assert b"BEGIN EC PRIVATE KEY" in ec_path.read_bytes()
    assert check_key(load_private_key(rsa_path.read_bytes()).public_key()) is KeyAlgorithm.RSA_2048
    assert check_key(load_private_key(ec_path.read_bytes()).public_key()) is KeyAlgorithm.EC_prime256v1


@pytest.mark.parametrize(
    ("make_key", "detail"),
    [
        (lambda: rsa.generate_private_key(65537, 1024), "RSA keys must be 2048, 3072 or 4096 bits, got 1024"),
        (lambda: rsa.generate_private_key(65537, 1536), "RSA keys must be 2048, 3072 or 4096 bits, got 1536"),
        (lambda: rsa.generate_private_key(65537, 2560), "RSA keys must be 2048, 3072 or 4096 bits, got 2560"),
        (lambda: rsa.generate_private_key(3, 2048), "RSA public exponent must be 65537, got 3"),
        (
            lambda: ec.generate_private_key(ec.SECP256K1()),
            "EC curve secp256k1 is not supported; use P-256 or P-384",
        ),
        (
            lambda: ec.generate_private_key(ec.SECP521R1()),
            "EC curve secp521r1 is not supported; use P-256 or P-384",
        ),
        (
            lambda: dsa.generate_private_key(2048),
            "DSA keys are not supported; use RSA 2048/3072/4096, EC P-256/P-384 or Ed25519",
        ),
        (
            lambda: x25519.X25519PrivateKey.generate(),
            "X25519 keys are not supported; use RSA 2048/3072/4096, EC P-256/P-384 or Ed25519",
        ),
        (
            lambda: ed448.Ed448PrivateKey.generate(),
            "Ed448 keys are not supported; use RSA 2048/3072/4096, EC P-256/P-384 or Ed25519",
        ),
    ],
    ids=["rsa1024", "rsa1536", "rsa2560", "rsa-e3", "secp256k1", "p521", "dsa", "x25519", "ed448"],
)
def test_weak_or_unsupported_key_is_refused_with_one_line_reason(
    make_key: Callable[[], Any], detail: str
) -> None:
    public_key = make_key().public_key()
    with pytest.raises(BadPublicKey) as caught:
        check_key(public_key)
    assert caught.value.detail == detail
    with pytest.raises(BadPublicKey):
        checked_public_key(public_key)


@pytest.mark.parametrize("bits", ["1024", "1536"])
def test_loading_a_weak_rsa_key_is_refused(bits: str, tmp_path: Path) -> None:
    path = tmp_path / "weak.pem"
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{bits}", "-out", path)
    with pytest.raises(BadPublicKey, match=f"RSA keys must be 2048, 3072 or 4096 bits, got {bits}"):
        load_private_key(path.read_bytes())


def test_loading_a_secp256k1_key_from_openssl_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k1.pem"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1", "-out", path)
    with pytest.raises(BadPublicKey, match="EC curve secp256k1 is not supported"):
        load_private_key(path.read_bytes())


def test_loading_a_dsa_key_is_refused() -> None:
    key = dsa.generate_private_key(2048)
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(BadPublicKey, match="DSA keys are not supported"):
        load_private_key(data)


@pytest.mark.parametrize(
    "data", [b"", b"garbage", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"]
)
def test_garbage_is_not_a_private_key(data: bytes) -> None:
    with pytest.raises(BadPublicKey, match="not a PEM or DER private key"):
        load_private_key(data)


def test_encrypted_key_needs_the_right_password() -> None:
    encrypted = private_key_pem(generate_key(KeyAlgorithm.EC_prime256v1), b"right")
    with pytest.raises(BadPublicKey, match="password is wrong"):
        load_private_key(encrypted, b"wrong")
    with pytest.raises(BadPublicKey, match="cannot load the private key"):
        load_private_key(encrypted)


@pytest.mark.parametrize(
    "algorithm", [KeyAlgorithm.RSA_2048, KeyAlgorithm.EC_prime256v1, KeyAlgorithm.ED25519]
)
def test_public_key_pem_matches_openssl_pubout(algorithm: KeyAlgorithm, tmp_path: Path) -> None:
    key = generate_key(algorithm)
    path = tmp_path / "key.pem"
    path.write_bytes(private_key_pem(key))
    assert public_key_pem(key) == openssl("pkey", "-in", path, "-pubout").stdout.encode()
    assert public_key_pem(key.public_key()) == public_key_pem(key)
