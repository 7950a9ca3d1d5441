"""External account binding keys (RFC 8555 §7.3.4): the sealed HMAC key an operator hands out, optionally
tied to a profile, and bound to at most one account, once."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update

from acme_server.storage.base import Repository, utcnow
from acme_server.storage.tables import eab_keys


@dataclass(frozen=True, slots=True)
class EABKeyRecord:
    kid: str
    profile_id: str | None  # None: usable with any profile
    sealed_hmac: bytes
    created_at: datetime
    bound_account_id: str | None
    bound_at: datetime | None


class EABRepository(Repository):
    async def create(self, *, kid: str, profile_id: str | None, sealed_hmac: bytes) -> EABKeyRecord:
        """A new unbound key; Conflict when the kid is taken."""
        record = EABKeyRecord(
            kid=kid,
            profile_id=profile_id,
            sealed_hmac=sealed_hmac,
            created_at=utcnow(),
            bound_account_id=None,
            bound_at=None,
        )
        statement = insert(eab_keys).values(
            kid=kid, profile_id=profile_id, sealed_hmac=sealed_hmac, created_at=record.created_at
        )
        await self._execute(statement)
        return record

    async def get(self, kid: str) -> EABKeyRecord | None:
        return await self._one_or_none(EABKeyRecord, select(eab_keys).where(eab_keys.c.kid == kid))

    async def list(self, profile_id: str | None = None) -> builtins.list[EABKeyRecord]:
        """Every key, oldest first; only those of `profile_id` when given."""
        statement = select(eab_keys).order_by(eab_keys.c.created_at, eab_keys.c.kid)
        if profile_id is not None:
            statement = statement.where(eab_keys.c.profile_id == profile_id)
        return await self._all(EABKeyRecord, statement)

    async def bind(self, kid: str, account_id: str, *, now: datetime) -> bool:
        """Bind the key to the account if it was never bound: False for a used (or unknown) key, so two
        newAccount requests racing with one key make one account. Conflict when the account has a key."""
        statement = (
            update(eab_keys)
            .where(
                eab_keys.c.kid == kid, eab_keys.c.bound_account_id.is_(None), eab_keys.c.bound_at.is_(None)
            )
            .values(bound_account_id=account_id, bound_at=now)
        )
        return (await self._execute(statement)).rowcount == 1

    async def delete(self, kid: str) -> bool:
        """Delete a key no account is bound to; False when missing or bound (even by a racing bind)."""
        statement = delete(eab_keys).where(eab_keys.c.kid == kid, eab_keys.c.bound_account_id.is_(None))
        return (await self._execute(statement)).rowcount == 1
