"""ACME accounts (RFC 8555 §7.3): one row per account key, found by its RFC 7638 thumbprint; status
changes and key rollover are conditional writes."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Row, bindparam, func, insert, select, update

from acme_server.statuses import AccountStatus
from acme_server.storage.base import Repository, make_id, utcnow
from acme_server.storage.prepared import prepared
from acme_server.storage.tables import acme_accounts


@dataclass(frozen=True, slots=True)
class AccountRecord:
    id: str
    jwk_thumbprint: str  # RFC 7638, base64url
    jwk: dict[str, str]
    status: AccountStatus
    contacts: tuple[str, ...]
    terms_agreed: bool
    eab_kid: str | None
    created_at: datetime


def _record(row: Row[Any]) -> AccountRecord:
    values = dict(row._mapping)
    values["contacts"] = tuple(values["contacts"])
    return AccountRecord(**values)


_GET_ACCOUNT: Final = prepared(
    select(acme_accounts).where(acme_accounts.c.id == bindparam("id"))
)  # every kid request


class AccountRepository(Repository):
    async def create(
        self,
        *,
        jwk_thumbprint: str,
        jwk: dict[str, str],
        contacts: Sequence[str],
        terms_agreed: bool,
        eab_kid: str | None = None,
    ) -> AccountRecord:
        """A new 'valid' account; Conflict when an account already has this key."""
        values: dict[str, Any] = {
            "id": make_id(),
            "jwk_thumbprint": jwk_thumbprint,
            "jwk": dict(jwk),
            "status": AccountStatus.VALID,
            "contacts": list(contacts),
            "terms_agreed": terms_agreed,
            "eab_kid": eab_kid,
            "created_at": utcnow(),
        }
        await self._execute(insert(acme_accounts).values(values))
        return AccountRecord(**{**values, "contacts": tuple(contacts)})

    async def get(self, account_id: str) -> AccountRecord | None:
        row = (await self._execute(_GET_ACCOUNT, {"id": account_id})).first()
        return None if row is None else _record(row)

    async def get_by_thumbprint(self, jwk_thumbprint: str) -> AccountRecord | None:
        statement = select(acme_accounts).where(acme_accounts.c.jwk_thumbprint == jwk_thumbprint)
        row = (await self._execute(statement)).first()
        return None if row is None else _record(row)

    async def list(self, *, limit: int, offset: int) -> tuple[builtins.list[AccountRecord], int]:
        """One page of accounts, newest first, and how many there are (the UI's accounts page)."""
        statement = (
            select(acme_accounts)
            .order_by(acme_accounts.c.created_at.desc(), acme_accounts.c.id)
            .limit(limit)
            .offset(offset)
        )
        records = [_record(row) for row in await self._execute(statement)]
        total = (await self._execute(select(func.count()).select_from(acme_accounts))).scalar_one()
        return records, int(total)

    async def update_contacts(self, account_id: str, contacts: Sequence[str]) -> AccountRecord | None:
        """Replace the contacts; the updated account, or None when there is no such account."""
        statement = (
            update(acme_accounts)
            .where(acme_accounts.c.id == account_id)
            .values(contacts=list(contacts))
            .returning(*acme_accounts.c)
        )
        row = (await self._execute(statement)).first()
        return None if row is None else _record(row)

    async def deactivate(self, account_id: str) -> bool:
        """'valid' -> 'deactivated' (RFC 8555 §7.3.6); False when the account is not (or no longer) valid."""
        statement = (
            update(acme_accounts)
            .where(acme_accounts.c.id == account_id, acme_accounts.c.status == AccountStatus.VALID)
            .values(status=AccountStatus.DEACTIVATED)
        )
        return (await self._execute(statement)).rowcount == 1

    async def change_key(
        self, account_id: str, *, old_thumbprint: str, new_thumbprint: str, new_jwk: dict[str, str]
    ) -> bool:
        """Roll the account over to a new key (RFC 8555 §7.3.5), only while it still has the old one:
        False for the loser of two concurrent rollovers. Conflict when another account has the new key."""
        statement = (
            update(acme_accounts)
            .where(acme_accounts.c.id == account_id, acme_accounts.c.jwk_thumbprint == old_thumbprint)
            .values(jwk_thumbprint=new_thumbprint, jwk=dict(new_jwk))
        )
        return (await self._execute(statement)).rowcount == 1
