"""Signed-in UI sessions kept by the server: sign-in stores one (only the SHA-256 of its random
secret, which the sealed cookie carries), every page looks it up, sign-out deletes it — so a copied
cookie stops working everywhere at once — and it ends after LIFETIME whatever the cookie says.
Revoking or expiring the token ends its sessions too."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from acme_server.errors import Unauthorized
from acme_server.services.access import tokens
from acme_server.services.access.tokens import TokenInfo
from acme_server.services.runtime import Runtime

LIFETIME = timedelta(hours=12)
SECRET_BYTES = 32


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def start_session(rt: Runtime, token: TokenInfo) -> str:
    """A new session for a token that just signed in; returns its secret (for the cookie only).
    Sessions that ended by time are removed on the way, so the table holds live sessions only."""
    secret = secrets.token_urlsafe(SECRET_BYTES)
    now = rt.clock.now()
    async with rt.storage.transaction() as tx:
        await tx.ui_sessions.delete_expired(now)
        await tx.ui_sessions.create(id_hash=_hash(secret), token_id=token.id, expires_at=now + LIFETIME)
    return secret


async def session_user(rt: Runtime, secret: str) -> TokenInfo | None:
    """The token a live session signed in with; None when the session ended (signed out, timed out)
    or its token was revoked or expired."""
    async with rt.storage.read() as tx:
        record = await tx.ui_sessions.find_token(_hash(secret), rt.clock.now())
    try:
        return await tokens.accept(rt, record)
    except Unauthorized:
        return None


async def end_session(rt: Runtime, secret: str) -> None:
    """Sign-out: the session ends for every copy of its cookie."""
    async with rt.storage.transaction() as tx:
        await tx.ui_sessions.delete(_hash(secret))
