"""The UI session cookie: the form (CSRF) token and, once signed in, the secret of a server-side session
(services/access/ui_sessions.py), sealed with AES-GCM under a key derived from the KEK — replicas sharing the
KEK read each other's cookies, and nothing new has to be kept secret. The API token itself never
leaves the sign-in request; the server-side session is looked up on every request, so signing out,
its expiry, or deleting or expiring the token ends it for every copy of the cookie."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from acme_server.services.access.ui_sessions import LIFETIME
from ca_core.keyprotect import KeyEncryptionKey

COOKIE = "acme_ui_session"
_PURPOSE = b"acme-server ui session cookie v2"  # v2: a session secret where v1 held the API token
_NONCE_BYTES = 12


@dataclass(frozen=True)
class Session:
    csrf: str  # echoed by every form; compared in constant time
    secret: str | None  # the server-side session's secret; None before sign-in
    started: datetime

    @classmethod
    def new(cls, now: datetime, secret: str | None = None) -> Session:
        """A fresh session; signing in starts a new one, so a pre-sign-in CSRF token never carries over."""
        return cls(csrf=secrets.token_urlsafe(32), secret=secret, started=now)

    def accepts(self, csrf: str | None) -> bool:
        return csrf is not None and hmac.compare_digest(self.csrf.encode(), csrf.encode())


class SessionCodec:
    def __init__(self, kek: KeyEncryptionKey) -> None:
        self._aead = AESGCM(kek.derive(_PURPOSE))

    def encode(self, session: Session) -> str:
        payload = json.dumps(
            {"c": session.csrf, "t": session.secret, "s": int(session.started.timestamp())}
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
            session = Session(csrf=str(fields["c"]), secret=fields["t"], started=started)
        except (binascii.Error, ValueError, InvalidTag, KeyError, TypeError):
            return None
        if now - session.started > LIFETIME:
            return None
        return session
