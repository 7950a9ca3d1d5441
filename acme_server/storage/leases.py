"""Database leases: a named job (CRL generation, renewals, bootstrap) runs in one worker or replica at a
time; a lease whose holder died is taken over once it expires."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite

from acme_server.storage.base import Repository
from acme_server.storage.tables import leases


class LeaseRepository(Repository):
    async def try_acquire(self, name: str, holder: str, *, now: datetime, ttl: timedelta) -> bool:
        """Take the lease until now + ttl if it is free, expired, or already ours (then it is extended).
        One INSERT ... ON CONFLICT DO UPDATE ... WHERE: atomic on both engines, no read-then-write."""
        dialect = postgresql if self._connection.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(leases).values(name=name, holder=holder, expires_at=now + ttl)
        statement = statement.on_conflict_do_update(
            index_elements=[leases.c.name],
            set_={"holder": statement.excluded.holder, "expires_at": statement.excluded.expires_at},
            where=(leases.c.expires_at <= now) | (leases.c.holder == holder),
        ).returning(leases.c.name)
        return (await self._execute(statement)).first() is not None

    async def release(self, name: str, holder: str) -> bool:
        """Give the lease up; False when it is not (or no longer) ours."""
        statement = delete(leases).where(leases.c.name == name, leases.c.holder == holder)
        return (await self._execute(statement)).rowcount == 1
