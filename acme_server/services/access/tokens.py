"""REST API tokens: create (the secret is shown once; only its SHA-256 is stored), authenticate a bearer
secret, list and revoke; roles and what each may do."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from acme_server.errors import Forbidden, Malformed, NotFound, Unauthorized
from acme_server.services.platform import audit
from acme_server.services.runtime import Runtime
from acme_server.storage import TokenRecord
from ca_core.durations import expiry

TOKEN_PREFIX = "acmes_"  # makes a leaked token easy to recognise in logs and secret scanners
TOKEN_BYTES = 32

LAST_USED_RESOLUTION = timedelta(minutes=1)  # how fresh "last used" is kept


class Role(StrEnum):
    """admin manages CAs, profiles, policies, EAB keys and tokens; operator issues, renews, revokes,
    exports and edits metadata; viewer reads. Each role may do everything the roles below it may."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @classmethod
    def parse(cls, value: str) -> Role:
        try:
            return cls(value.strip().lower())
        except ValueError:
            allowed = ", ".join(role.value for role in cls)
            raise Malformed(f"role {value!r}: use one of {allowed}") from None

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, required: Role) -> bool:
        """True when this role may do what `required` may."""
        return self.rank >= required.rank


_RANKS = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed or authenticated: never the secret."""

    id: str
    name: str
    role: Role
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


def check_role(token: TokenInfo, required: Role) -> None:
    """Raise Forbidden unless the token's role covers `required`."""
    if not token.role.allows(required):
        raise Forbidden(f"token {token.name!r} has role {token.role.value}; this needs {required.value}")


def hash_token(plaintext: str) -> str:
    """What is stored: a bearer secret has 256 random bits, so a plain SHA-256 suffices (no salt or
    stretching needed, unlike a password) and lets authenticate() look it up by equality."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


async def create_token(
    rt: Runtime, name: str, role: Role | str, expires_in: timedelta | None = None
) -> tuple[str, TokenInfo]:
    """A new token; returns its secret (shown only now) and what is stored about it."""
    role = role if isinstance(role, Role) else Role.parse(role)
    name = name.strip()
    if not name:
        raise Malformed("name: must not be empty")
    # A lifetime of zero, over 100 years or past 9999-12-31 is refused naming the field.
    expires_at = expiry(rt.clock.now(), expires_in, field="expiresIn") if expires_in is not None else None
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    async with rt.storage.transaction() as tx:
        record = await tx.tokens.create(
            name=name, role=role.value, token_hash=hash_token(plaintext), expires_at=expires_at
        )
        await audit.record(
            tx, audit.current(), "token.create", "token", record.id, {"name": name, "role": role.value}
        )
    return plaintext, _info(record)


async def authenticate(rt: Runtime, plaintext: str) -> TokenInfo:
    """The token behind a bearer secret; Unauthorized when unknown or expired (one detail for both, so
    a caller cannot tell a revoked token from a mistyped one). Records the use, at most once a minute
    per token: checking a token is a read, so API calls and UI page views cost no write each."""
    async with rt.storage.read() as tx:
        record = await tx.tokens.find_by_hash(hash_token(plaintext.strip()))
    return await accept(rt, record)


async def accept(rt: Runtime, record: TokenRecord | None) -> TokenInfo:
    """A found token, refused when missing or expired, its use recorded (for authenticate and the UI's
    sessions, services/access/ui_sessions.py)."""
    now = rt.clock.now()
    if record is None or (record.expires_at is not None and record.expires_at <= now):
        raise Unauthorized("the API token is unknown, revoked or expired")
    if record.last_used_at is None or now - record.last_used_at >= LAST_USED_RESOLUTION:
        async with rt.storage.transaction() as tx:
            await tx.tokens.touch(record.id, now)
    return _info(record)


async def list_tokens(rt: Runtime) -> list[TokenInfo]:
    """Every token, oldest first, expired ones included (so they can be revoked)."""
    async with rt.storage.read() as tx:
        return [_info(record) for record in await tx.tokens.list()]


async def revoke_token(rt: Runtime, token: str) -> TokenInfo:
    """Delete a token by id or name; a name shared by several tokens must be revoked by id."""
    async with rt.storage.transaction() as tx:
        records = await tx.tokens.list()
        matches = [r for r in records if r.id == token] or [r for r in records if r.name == token]
        if not matches:
            raise NotFound("API token", token)
        if len(matches) > 1:
            raise Malformed(f"several API tokens are named {token!r}: revoke one by its id")
        if not await tx.tokens.delete(matches[0].id):
            raise NotFound("API token", token)
        await audit.record(
            tx, audit.current(), "token.revoke", "token", matches[0].id, {"name": matches[0].name}
        )
    return _info(matches[0])


def _info(record: TokenRecord) -> TokenInfo:
    return TokenInfo(
        id=record.id,
        name=record.name,
        role=Role(record.role),
        created_at=record.created_at,
        expires_at=record.expires_at,
        last_used_at=record.last_used_at,
    )
