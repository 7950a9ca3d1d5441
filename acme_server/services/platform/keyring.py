"""The key-encryption key (KEK) that seals every CA and managed private key at rest: from the
ACME_SERVER_KEK setting, or a file created once with mode 0600 in the data directory. And the PIN of
a PKCS#11 token holding CA keys: from a 0600 file or the ACME_PKCS11_PIN environment variable."""

from __future__ import annotations

import os
from pathlib import Path

from acme_server.errors import ConfigError, HSMNotConfigured
from ca_core.errors import KeyProtectionError
from ca_core.keyprotect import KeyEncryptionKey


def load_kek(path: Path, text: str | None, *, create: bool) -> KeyEncryptionKey:
    """The KEK given as text wins; else read `path`, creating it (0600) when `create` is set."""
    if text:
        try:
            return KeyEncryptionKey.from_text(text)
        except KeyProtectionError as exc:
            raise ConfigError(f"kek: {exc.detail}") from None
    if not path.exists():
        if not create:
            raise ConfigError(f"no key-encryption key at {path}; run 'acme-server serve' once to create it")
        return _create_kek_file(path)
    if path.stat().st_mode & 0o077:
        raise ConfigError(f"{path} is readable by group or others; run: chmod 600 {path}")
    try:
        return KeyEncryptionKey.from_text(path.read_text().strip())
    except KeyProtectionError as exc:
        raise ConfigError(f"{path}: {exc.detail}") from None


def load_pkcs11_pin(path: str | None, text: str | None) -> str:
    """The token's user PIN: the file `path` (--pkcs11-pin-file) wins over `text` (ACME_PKCS11_PIN).
    A PIN file others may read is refused, as the KEK file is."""
    if path:
        pin_file = Path(path)
        try:
            if pin_file.stat().st_mode & 0o077:
                raise ConfigError(f"{pin_file} is readable by group or others; run: chmod 600 {pin_file}")
            pin = pin_file.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"pkcs11_pin_file: cannot read {pin_file}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"pkcs11_pin_file: {pin_file} is not text") from None
        if not pin:
            raise ConfigError(f"pkcs11_pin_file: {pin_file} is empty")
        return pin
    if text:
        return text
    raise HSMNotConfigured(
        "a CA key is in a PKCS#11 token: give --pkcs11-pin-file FILE or set ACME_PKCS11_PIN"
    )


def _create_kek_file(path: Path) -> KeyEncryptionKey:
    kek = KeyEncryptionKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written to a private temporary file, then hard-linked into place: link() fails if the file
    # exists, so two processes bootstrapping at once agree on one key and never read a half-written one.
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(kek.to_text() + "\n")
    try:
        os.link(temporary, path)
    except FileExistsError:
        return load_kek(path, None, create=False)
    finally:
        temporary.unlink()
    return kek
