"""Redeemed ACME nonces (RFC 8555 §6.5): nonces are stateless MACs made by the service; a row here
means "already used", kept until the nonce would have expired anyway."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite

from acme_server.storage.base import Repository
from acme_server.storage.tables import acme_nonces


class NonceRepository(Repository):
    async def redeem(self, nonce: str, *, expires_at: datetime) -> bool:
        """Mark the nonce used: True the first time, False on a replay (RFC 8555 §6.5.2 badNonce).
        One INSERT ... ON CONFLICT DO NOTHING: no read-then-write race between replicas, and a replay
        raises nothing, so it does not abort a surrounding PostgreSQL transaction."""
        dialect = postgresql if self._connection.dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(acme_nonces)
            .values(nonce=nonce, expires_at=expires_at)
            .on_conflict_do_nothing(index_elements=[acme_nonces.c.nonce])
            .returning(acme_nonces.c.nonce)
        )
        return (await self._execute(statement)).first() is not None

    async def purge_expired(self, now: datetime) -> int:
        """Forget nonces whose lifetime is over (the service refuses them by their MAC'd expiry); the
        number removed."""
        statement = delete(acme_nonces).where(acme_nonces.c.expires_at <= now)
        return int((await self._execute(statement)).rowcount)
