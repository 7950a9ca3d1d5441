"""Envelope encryption of private keys at rest: a fresh data key per blob (AES-256-GCM), wrapped by the
key-encryption key (KEK, AES key wrap RFC 3394). The KEK itself lives outside the database."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from ca_core.errors import KeyProtectionError
from ca_core.keys import PrivateKey, load_private_key

KEK_BYTES: Final = 32
_KEY_ID_BYTES: Final = 8
_MAGIC: Final = b"CAKP"
_VERSION: Final = 1
_NONCE_BYTES: Final = 12
_WRAPPED_BYTES: Final = KEK_BYTES + 8  # RFC 3394 §2.2.1: n 64-bit blocks wrap to n + 1
# Version 1 layout: magic | version | KEK id | wrapped data key | GCM nonce | ciphertext + 16-byte tag.
# The whole header is GCM associated data (with the caller's context after it), so flipping any
# byte of the blob, or opening it for another purpose, fails authentication.
_HEADER: Final = struct.Struct(f">4sB{_KEY_ID_BYTES}s{_WRAPPED_BYTES}s{_NONCE_BYTES}s")
_TAG_BYTES: Final = 16


class KeyEncryptionKey:
    """A 256-bit AES key that wraps data keys; `key_id` names it without revealing it."""

    __slots__ = ("_key", "key_id")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEK_BYTES:
            raise KeyProtectionError(f"a key-encryption key is {KEK_BYTES} bytes, got {len(key)}")
        self._key = bytes(key)
        self.key_id = self._id_bytes().hex()

    def _id_bytes(self) -> bytes:
        return hashlib.sha256(self._key).digest()[:_KEY_ID_BYTES]

    @classmethod
    def generate(cls) -> KeyEncryptionKey:
        return cls(os.urandom(KEK_BYTES))

    @classmethod
    def from_text(cls, text: str) -> KeyEncryptionKey:
        """Read the base64url form (padding optional) that to_text() writes and an env var holds."""
        cleaned = text.strip()
        try:
            raw = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise KeyProtectionError("a key-encryption key must be base64url text") from None
        return cls(raw)

    def to_text(self) -> str:
        return base64.urlsafe_b64encode(self._key).rstrip(b"=").decode()

    def derive(self, purpose: bytes) -> bytes:
        """A 256-bit key for another purpose (e.g. the ACME nonce MAC), independent of the KEK itself
        (HKDF, RFC 5869), so every replica sharing the KEK derives the same one."""
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(self._key)

    def __repr__(self) -> str:
        return f"KeyEncryptionKey(key_id={self.key_id!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KeyEncryptionKey) and hmac.compare_digest(self._key, other._key)

    def __hash__(self) -> int:
        return hash(self.key_id)


def seal(kek: KeyEncryptionKey, plaintext: bytes, *, context: bytes) -> bytes:
    """Encrypt `plaintext` under a fresh data key bound to `context` (e.g. which row it belongs to)."""
    data_key = AESGCM.generate_key(bit_length=256)
    header = _HEADER.pack(
        _MAGIC, _VERSION, kek._id_bytes(), aes_key_wrap(kek._key, data_key), os.urandom(_NONCE_BYTES)
    )
    nonce = header[-_NONCE_BYTES:]
    return header + AESGCM(data_key).encrypt(nonce, plaintext, header + context)


def unseal(kek: KeyEncryptionKey, blob: bytes, *, context: bytes) -> bytes:
    """The plaintext of a sealed blob; KeyProtectionError names the KEK mismatch or the tampering."""
    if len(blob) < _HEADER.size + _TAG_BYTES or not blob.startswith(_MAGIC):
        raise KeyProtectionError("not a sealed key (unknown format or truncated)")
    _magic, version, key_id, wrapped, nonce = _HEADER.unpack_from(blob)
    if version != _VERSION:
        raise KeyProtectionError(f"sealed key format version {version} is not supported")
    if key_id != kek._id_bytes():
        raise KeyProtectionError(f"sealed with key-encryption key {key_id.hex()}, not {kek.key_id}")
    try:
        data_key = aes_key_unwrap(kek._key, wrapped)
        header = blob[: _HEADER.size]
        return AESGCM(data_key).decrypt(nonce, blob[_HEADER.size :], header + context)
    except (InvalidUnwrap, InvalidTag):
        raise KeyProtectionError("sealed key does not open: data altered or wrong context") from None


def seal_private_key(kek: KeyEncryptionKey, key: PrivateKey, *, context: bytes) -> bytes:
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return seal(kek, der, context=context)


def unseal_private_key(kek: KeyEncryptionKey, blob: bytes, *, context: bytes) -> PrivateKey:
    return load_private_key(unseal(kek, blob, context=context))
