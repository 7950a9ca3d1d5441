"""Signed-in UI sessions: only a hash of each session secret is stored, with the token it signed in
with and when it ends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select

from acme_server.storage.base import Repository, utcnow
from acme_server.storage.tables import api_tokens, ui_sessions
from acme_server.storage.tokens import TokenRecord


@dataclass(frozen=True, slots=True)
class UISessionRecord:
    id_hash: str
    token_id: str
    created_at: datetime
    expires_at: datetime


class UISessionRepository(Repository):
    async def create(self, *, id_hash: str, token_id: str, expires_at: datetime) -> None:
        statement = insert(ui_sessions).values(
            id_hash=id_hash, token_id=token_id, created_at=utcnow(), expires_at=expires_at
        )
        await self._execute(statement)

    async def find_token(self, id_hash: str, now: datetime) -> TokenRecord | None:
        """The token of the unexpired session with this hash (the token's own expiry is the caller's)."""
        statement = (
            select(api_tokens)
            .join(ui_sessions, ui_sessions.c.token_id == api_tokens.c.id)
            .where(ui_sessions.c.id_hash == id_hash, ui_sessions.c.expires_at > now)
        )
        return await self._one_or_none(TokenRecord, statement)

    async def delete(self, id_hash: str) -> bool:
        statement = delete(ui_sessions).where(ui_sessions.c.id_hash == id_hash)
        return (await self._execute(statement)).rowcount == 1

    async def delete_expired(self, now: datetime) -> int:
        return int((await self._execute(delete(ui_sessions).where(ui_sessions.c.expires_at <= now))).rowcount)

    async def count_for_token(self, token_id: str) -> int:
        statement = select(ui_sessions.c.id_hash).where(ui_sessions.c.token_id == token_id)
        return len((await self._execute(statement)).all())
