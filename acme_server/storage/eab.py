"""External account binding keys (RFC 8555 §7.3.4): the sealed HMAC key an operator hands out,
optionally tied to a profile, binding up to max_accounts accounts (one by default, or any number for a
fleet) until it is disabled. Its bindings are the accounts whose eab_kid names it."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, or_, select, update

from acme_server.statuses import AccountStatus
from acme_server.storage.base import Repository, utcnow
from acme_server.storage.tables import acme_accounts, eab_keys


@dataclass(frozen=True, slots=True)
class EABKeyRecord:
    kid: str
    profile_id: str | None  # None: usable with any profile
    sealed_hmac: bytes
    created_at: datetime
    max_accounts: int | None  # None: any number
    account_count: int  # accounts bound so far
    disabled_at: datetime | None  # set: binds no more accounts

    @property
    def is_full(self) -> bool:
        return self.max_accounts is not None and self.account_count >= self.max_accounts


@dataclass(frozen=True, slots=True)
class EABBindingRecord:
    """One account a key bound: the account row's id, status and creation (= binding) time."""

    kid: str
    account_id: str
    status: AccountStatus
    bound_at: datetime


class EABRepository(Repository):
    async def create(
        self, *, kid: str, profile_id: str | None, sealed_hmac: bytes, max_accounts: int | None = 1
    ) -> EABKeyRecord:
        """A new key that bound nothing yet; Conflict when the kid is taken."""
        record = EABKeyRecord(
            kid=kid,
            profile_id=profile_id,
            sealed_hmac=sealed_hmac,
            created_at=utcnow(),
            max_accounts=max_accounts,
            account_count=0,
            disabled_at=None,
        )
        statement = insert(eab_keys).values(
            kid=kid,
            profile_id=profile_id,
            sealed_hmac=sealed_hmac,
            created_at=record.created_at,
            max_accounts=max_accounts,
            account_count=0,
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

    async def bindings(self, kids: Sequence[str]) -> builtins.list[EABBindingRecord]:
        """The accounts these keys bound, in the order they were bound."""
        statement = (
            select(
                acme_accounts.c.eab_kid.label("kid"),
                acme_accounts.c.id.label("account_id"),
                acme_accounts.c.status,
                acme_accounts.c.created_at.label("bound_at"),
            )
            .where(acme_accounts.c.eab_kid.in_(list(kids)))
            .order_by(acme_accounts.c.created_at, acme_accounts.c.id)
        )
        return await self._all(EABBindingRecord, statement)

    async def bind(self, kid: str) -> bool:
        """Count one more account bound by the key, if it is enabled and has a binding left: one
        conditional UPDATE, so of two newAccount requests racing for the last binding (two replicas
        included: PostgreSQL re-checks the WHERE on the row the winner committed) exactly one counts.
        The caller stores the account with eab_kid = kid in the same transaction."""
        statement = (
            update(eab_keys)
            .where(
                eab_keys.c.kid == kid,
                eab_keys.c.disabled_at.is_(None),
                or_(eab_keys.c.max_accounts.is_(None), eab_keys.c.account_count < eab_keys.c.max_accounts),
            )
            .values(account_count=eab_keys.c.account_count + 1)
        )
        return (await self._execute(statement)).rowcount == 1

    async def set_disabled(self, kid: str, disabled_at: datetime | None) -> bool:
        """Disable the key (no new bindings) or enable it again (None); False for an unknown kid."""
        statement = update(eab_keys).where(eab_keys.c.kid == kid).values(disabled_at=disabled_at)
        return (await self._execute(statement)).rowcount == 1

    async def delete(self, kid: str, *, bound_too: bool = False) -> bool:
        """Delete the key; False when missing, or when it bound an account (even by a racing bind)
        unless `bound_too`."""
        statement = delete(eab_keys).where(eab_keys.c.kid == kid)
        if not bound_too:
            statement = statement.where(eab_keys.c.account_count == 0)
        return (await self._execute(statement)).rowcount == 1

    async def deactivate_accounts(self, kid: str) -> builtins.list[str]:
        """'valid' -> 'deactivated' (RFC 8555 §7.3.6) for every account the key bound; their ids."""
        statement = (
            update(acme_accounts)
            .where(acme_accounts.c.eab_kid == kid, acme_accounts.c.status == AccountStatus.VALID)
            .values(status=AccountStatus.DEACTIVATED)
            .returning(acme_accounts.c.id)
        )
        return [row.id for row in await self._execute(statement)]
