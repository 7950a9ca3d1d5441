"""REST API tokens: only a hash of each secret is stored, with its role and lifetime."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update

from acme_server.storage.base import Repository, make_id, utcnow
from acme_server.storage.tables import api_tokens


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: str
    name: str
    role: str  # 'admin' | 'operator' | 'viewer'
    token_hash: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


class TokenRepository(Repository):
    async def create(
        self, *, name: str, role: str, token_hash: str, expires_at: datetime | None = None
    ) -> TokenRecord:
        statement = (
            insert(api_tokens)
            .values(
                id=make_id(),
                name=name,
                role=role,
                token_hash=token_hash,
                created_at=utcnow(),
                expires_at=expires_at,
                last_used_at=None,
            )
            .returning(*api_tokens.c)
        )
        record = await self._one_or_none(TokenRecord, statement)
        assert record is not None
        return record

    async def find_by_hash(self, token_hash: str) -> TokenRecord | None:
        """The token with this hash, expired or not (the caller checks expires_at against its clock)."""
        statement = select(api_tokens).where(api_tokens.c.token_hash == token_hash)
        return await self._one_or_none(TokenRecord, statement)

    async def list(self) -> builtins.list[TokenRecord]:
        statement = select(api_tokens).order_by(api_tokens.c.created_at, api_tokens.c.id)
        return await self._all(TokenRecord, statement)

    async def delete(self, token_id: str) -> bool:
        return (await self._execute(delete(api_tokens).where(api_tokens.c.id == token_id))).rowcount == 1

    async def touch(self, token_id: str, now: datetime) -> bool:
        """Record a use."""
        statement = update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=now)
        return (await self._execute(statement)).rowcount == 1
