"""The UI session: one cookie holding the signed-in API token and the form (CSRF) token, sealed with
AES-GCM under a key derived from the KEK — replicas sharing the KEK read each other's cookies, and
nothing new has to be kept secret. The token is re-checked on every request, so deleting or expiring
it ends the session too."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ca_core.keyprotect import KeyEncryptionKey

COOKIE = "acme_ui_session"
LIFETIME = timedelta(hours=12)
_PURPOSE = b"acme-server ui session cookie v1"
_NONCE_BYTES = 12


@dataclass(frozen=True)
class Session:
    csrf: str  # echoed by every form; compared in constant time
    token: str | None  # the API token the user signed in with; None before sign-in
    started: datetime

    @classmethod
    def new(cls, now: datetime, token: str | None = None) -> Session:
        """A fresh session; signing in starts a new one, so a pre-sign-in CSRF token never carries over."""
        return cls(csrf=secrets.token_urlsafe(32), token=token, started=now)

    def accepts(self, csrf: str | None) -> bool:
        return csrf is not None and hmac.compare_digest(self.csrf.encode(), csrf.encode())


class SessionCodec:
    def __init__(self, kek: KeyEncryptionKey) -> None:
        self._aead = AESGCM(kek.derive(_PURPOSE))

    def encode(self, session: Session) -> str:
        payload = json.dumps(
            {"c": session.csrf, "t": session.token, "s": int(session.started.timestamp())}
        ).encode()
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, payload, COOKIE.encode())
        return base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def decode(self, value: str | None, now: datetime) -> Session | None:
        """The session in a cookie, or None when absent, tampered with, or older than LIFETIME."""
        if not value:
            return None
        try:
            sealed = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            payload = self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], COOKIE.encode())
            fields = json.loads(payload)
            started = datetime.fromtimestamp(int(fields["s"]), tz=now.tzinfo)
            session = Session(csrf=str(fields["c"]), token=fields["t"], started=started)
        except (binascii.Error, ValueError, InvalidTag, KeyError, TypeError):
            return None
        if now - session.started > LIFETIME:
            return None
        return session
