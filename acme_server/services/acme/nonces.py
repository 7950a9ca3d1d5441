"""Replay nonces (RFC 8555 §6.5) that cost no database round trip to hand out: a nonce is a MAC over
its issue time and random bytes, keyed from the KEK so every replica can check it; redeeming one is
a single INSERT into the store of used nonces (storage/nonce_store.py: no fsync, never behind the
writer lock), which is what makes it single-use across workers and replicas."""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from datetime import datetime, timedelta

from acme_server.errors import BadNonce
from acme_server.observability import metrics
from acme_server.storage import Redeemed, Storage
from ca_core.errors import CAError
from ca_core.jose import b64decode, b64encode
from ca_core.keyprotect import KeyEncryptionKey

NONCE_LIFETIME = timedelta(hours=1)
_LAYOUT = struct.Struct(">Q8s")  # issue time in ms since the epoch, 8 random bytes
_MAC_BYTES = 16


def _refused(reason: str, detail: str) -> BadNonce:
    """The badNonce error, counted by reason (refusals only: issuing and redeeming stay uncounted)."""
    metrics.BAD_NONCES.labels(reason).inc()
    return BadNonce(detail)


class Nonces:
    def __init__(self, kek: KeyEncryptionKey, lifetime: timedelta = NONCE_LIFETIME) -> None:
        self._key = kek.derive(b"acme-server nonce mac v1")
        self.lifetime = lifetime

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:_MAC_BYTES]

    def issue(self, now: datetime) -> str:
        body = _LAYOUT.pack(int(now.timestamp() * 1000), os.urandom(8))
        return b64encode(body + self._mac(body))

    def check(self, nonce: str, now: datetime) -> tuple[str, datetime, datetime]:
        """(the nonce's canonical text, its issue time, its expiry) if it is ours and fresh; BadNonce
        otherwise (no storage needed). RFC 8555 §6.5.1: a nonce is base64url, decoded strictly, so
        that one value has exactly one text and a used nonce cannot be re-sent spelled differently."""
        try:
            raw = b64decode(nonce)
        except CAError:
            raise _refused("malformed", "the nonce is not base64url") from None
        body, mac = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
        if len(raw) != _LAYOUT.size + _MAC_BYTES or not hmac.compare_digest(mac, self._mac(body)):
            raise _refused("foreign", "the nonce was not issued by this server")
        issued_ms, _ = _LAYOUT.unpack(body)
        issued = datetime.fromtimestamp(issued_ms / 1000, now.tzinfo)
        expires = issued + self.lifetime
        if expires <= now:
            raise _refused("expired", "the nonce has expired")
        return b64encode(raw), issued, expires

    async def redeem(self, storage: Storage, nonce: str, now: datetime) -> None:
        """Use the nonce once; a replay (here or on another worker or replica) is BadNonce."""
        # The single-use key is the decoded value (re-encoded canonically), never the text as sent.
        canonical, issued, expires = self.check(nonce, now)
        outcome = await storage.nonces.redeem(canonical, issued_at=issued, expires_at=expires)
        if outcome is Redeemed.REPLAY:
            raise _refused("replay", "the nonce was used before")
        if outcome is Redeemed.ISSUED_BEFORE_RESET:
            raise _refused(
                "reset", "the nonce was issued before the server's record of used nonces was reset"
            )
