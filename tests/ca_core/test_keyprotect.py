"""Envelope encryption of private keys at rest: round trips, and every way a blob must refuse to open."""

from __future__ import annotations

import base64

import pytest

from ca_core.errors import KeyProtectionError
from ca_core.keyprotect import KeyEncryptionKey, seal, seal_private_key, unseal, unseal_private_key
from ca_core.keys import KeyAlgorithm, generate_key, public_key_der

CONTEXT = b"private-key:ca-1"


@pytest.fixture(scope="module")
def kek() -> KeyEncryptionKey:
    return KeyEncryptionKey.generate()


def test_kek_must_be_32_bytes() -> None:
    with pytest.raises(KeyProtectionError, match="32 bytes, got 16"):
        KeyEncryptionKey(b"\x00" * 16)


def test_kek_text_round_trips_as_unpadded_base64url(kek: KeyEncryptionKey) -> None:
    text = kek.to_text()
    assert len(text) == 43 and "=" not in text
    assert KeyEncryptionKey.from_text(text) == kek
    assert KeyEncryptionKey.from_text(f"  {text}=\n") == kek  # padding and whitespace tolerated
    assert KeyEncryptionKey.from_text(text).key_id == kek.key_id


def test_kek_key_id_is_short_sha256_hex_and_repr_hides_the_key() -> None:
    kek = KeyEncryptionKey(bytes(range(32)))
    assert kek.key_id == "630dcd2966c43366"  # sha256(00 01 .. 1f)[:8]
    assert repr(kek) == "KeyEncryptionKey(key_id='630dcd2966c43366')"
    assert kek.to_text() not in repr(kek)


@pytest.mark.parametrize(
    ("text", "detail"),
    [("not base64!", "base64url"), (base64.urlsafe_b64encode(b"short").decode(), "32 bytes, got 5")],
)
def test_kek_text_must_be_base64url_of_32_bytes(text: str, detail: str) -> None:
    with pytest.raises(KeyProtectionError, match=detail):
        KeyEncryptionKey.from_text(text)


def test_seal_then_unseal_returns_the_plaintext(kek: KeyEncryptionKey) -> None:
    blob = seal(kek, b"secret material", context=CONTEXT)
    assert b"secret material" not in blob
    assert unseal(kek, blob, context=CONTEXT) == b"secret material"


def test_each_seal_uses_a_fresh_data_key_and_nonce(kek: KeyEncryptionKey) -> None:
    first, second = (seal(kek, b"same", context=CONTEXT) for _ in range(2))
    assert first != second
    assert first[13:53] != second[13:53]  # wrapped data keys differ


def test_blob_records_the_kek_id(kek: KeyEncryptionKey) -> None:
    blob = seal(kek, b"x", context=CONTEXT)
    assert blob[:5] == b"CAKP\x01"
    assert blob[5:13].hex() == kek.key_id


def test_wrong_kek_is_named_in_the_error(kek: KeyEncryptionKey) -> None:
    other = KeyEncryptionKey.generate()
    blob = seal(kek, b"x", context=CONTEXT)
    with pytest.raises(KeyProtectionError) as caught:
        unseal(other, blob, context=CONTEXT)
    assert caught.value.detail == f"sealed with key-encryption key {kek.key_id}, not {other.key_id}"


@pytest.mark.parametrize(
    "offset",
    [4, 20, 55, 60, -1, -20],
    ids=["version", "wrapped-key", "nonce", "nonce-end", "tag", "ciphertext"],
)
def test_tampered_blob_does_not_open(kek: KeyEncryptionKey, offset: int) -> None:
    blob = bytearray(seal(kek, b"some private key bytes", context=CONTEXT))
    blob[offset] ^= 0x01
    with pytest.raises(KeyProtectionError):
        unseal(kek, bytes(blob), context=CONTEXT)


def test_wrong_context_does_not_open(kek: KeyEncryptionKey) -> None:
    blob = seal(kek, b"x", context=CONTEXT)
    with pytest.raises(KeyProtectionError, match="data altered or wrong context"):
        unseal(kek, blob, context=b"private-key:ca-2")


@pytest.mark.parametrize("blob", [b"", b"CAKP", b"garbage" * 20])
def test_truncated_or_foreign_blob_is_refused(kek: KeyEncryptionKey, blob: bytes) -> None:
    with pytest.raises(KeyProtectionError, match="not a sealed key"):
        unseal(kek, blob, context=CONTEXT)


def test_unknown_format_version_is_refused(kek: KeyEncryptionKey) -> None:
    blob = bytearray(seal(kek, b"x", context=CONTEXT))
    blob[4] = 2
    with pytest.raises(KeyProtectionError, match="version 2 is not supported"):
        unseal(kek, bytes(blob), context=CONTEXT)


@pytest.mark.parametrize(
    "algorithm", [KeyAlgorithm.RSA_2048, KeyAlgorithm.EC_secp384r1, KeyAlgorithm.ED25519]
)
def test_private_key_round_trips_sealed(kek: KeyEncryptionKey, algorithm: KeyAlgorithm) -> None:
    key = generate_key(algorithm)
    blob = seal_private_key(kek, key, context=CONTEXT)
    opened = unseal_private_key(kek, blob, context=CONTEXT)
    assert public_key_der(opened.public_key()) == public_key_der(key.public_key())


def test_derived_keys_depend_on_purpose_and_kek() -> None:
    kek = KeyEncryptionKey.generate()
    same = KeyEncryptionKey.from_text(kek.to_text())
    assert kek.derive(b"acme-nonce") == same.derive(b"acme-nonce")
    assert kek.derive(b"acme-nonce") != kek.derive(b"other")
    assert kek.derive(b"acme-nonce") != KeyEncryptionKey.generate().derive(b"acme-nonce")
    assert len(kek.derive(b"acme-nonce")) == 32
