"""Server-driven renewal: which certificates are due, the per-certificate claim that lets exactly one
worker or replica renew each (a conditional upsert, like storage/leases.py), back-off after failures,
and the record of every attempt."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from acme_server.statuses import CertificateStatus, RenewalOutcome
from acme_server.storage.base import Repository, make_id
from acme_server.storage.tables import certificates, renewal_attempts, renewal_states


@dataclass(frozen=True, slots=True)
class DueCertificate:
    """A certificate the scheduler may renew: auto-renew on, active, not renewed, key held by us."""

    id: str
    profile_id: str | None
    not_before: datetime
    not_after: datetime


@dataclass(frozen=True, slots=True)
class RenewalStateRecord:
    certificate_id: str
    holder: str | None
    claimed_until: datetime | None
    failures: int
    next_attempt_at: datetime | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class RenewalAttemptRecord:
    id: str
    certificate_id: str
    attempted_at: datetime
    outcome: RenewalOutcome
    error: str | None
    successor_id: str | None
    next_attempt_at: datetime | None
    holder: str


class RenewalRepository(Repository):
    async def list_due(
        self, *, now: datetime, expiring_before: datetime, limit: int = 100
    ) -> builtins.list[DueCertificate]:
        """Eligible certificates expiring before `expiring_before`, soonest first, leaving out those
        in back-off or claimed by a live holder. The caller applies each profile's own window."""
        c, s = certificates.c, renewal_states.c
        statement = (
            select(c.id, c.profile_id, c.not_before, c.not_after)
            .select_from(certificates.outerjoin(renewal_states, s.certificate_id == c.id))
            .where(
                c.auto_renew.is_(True),
                c.status == CertificateStatus.ACTIVE,
                c.enrollment != "acme",
                c.sealed_key.is_not(None),
                c.renewed_by_id.is_(None),
                c.not_after < expiring_before,
                or_(s.next_attempt_at.is_(None), s.next_attempt_at <= now),
                or_(s.claimed_until.is_(None), s.claimed_until <= now),
            )
            .order_by(c.not_after, c.id)
            .limit(limit)
        )
        return await self._all(DueCertificate, statement)

    async def try_claim(self, certificate_id: str, holder: str, *, now: datetime, ttl: timedelta) -> bool:
        """Claim the certificate until now + ttl unless another holder's claim is live or it is in
        back-off. One INSERT ... ON CONFLICT DO UPDATE ... WHERE: atomic on both engines, so of two
        workers racing for one certificate exactly one gets True."""
        s = renewal_states.c
        dialect = postgresql if self._connection.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(renewal_states).values(
            certificate_id=certificate_id, holder=holder, claimed_until=now + ttl, failures=0
        )
        statement = statement.on_conflict_do_update(
            index_elements=[s.certificate_id],
            set_={"holder": statement.excluded.holder, "claimed_until": statement.excluded.claimed_until},
            where=and_(
                or_(s.claimed_until.is_(None), s.claimed_until <= now, s.holder == holder),
                or_(s.next_attempt_at.is_(None), s.next_attempt_at <= now),
            ),
        ).returning(s.certificate_id)
        return (await self._execute(statement)).first() is not None

    async def get_state(self, certificate_id: str) -> RenewalStateRecord | None:
        statement = select(renewal_states).where(renewal_states.c.certificate_id == certificate_id)
        return await self._one_or_none(RenewalStateRecord, statement)

    async def release(self, certificate_id: str, holder: str) -> bool:
        """Give up a claim without an attempt (the certificate was no longer eligible)."""
        s = renewal_states.c
        statement = (
            update(renewal_states)
            .where(s.certificate_id == certificate_id, s.holder == holder)
            .values(holder=None, claimed_until=None)
        )
        return (await self._execute(statement)).rowcount == 1

    async def record_success(
        self, certificate_id: str, holder: str, *, at: datetime, successor_id: str
    ) -> RenewalAttemptRecord:
        """Release the claim, clear the back-off and record the attempt."""
        await self._set_state(certificate_id, holder, failures=0, next_attempt_at=None, last_error=None)
        return await self._attempt(
            certificate_id, holder, at, RenewalOutcome.RENEWED, successor_id=successor_id
        )

    async def record_failure(
        self, certificate_id: str, holder: str, *, at: datetime, error: str, retry_at: datetime
    ) -> RenewalAttemptRecord:
        """Release the claim, count the failure, back off until `retry_at` and record the attempt."""
        failures = renewal_states.c.failures + 1
        await self._set_state(
            certificate_id, holder, failures=failures, next_attempt_at=retry_at, last_error=error
        )
        return await self._attempt(
            certificate_id, holder, at, RenewalOutcome.FAILED, error=error, next_attempt_at=retry_at
        )

    async def list_attempts(self, certificate_id: str) -> builtins.list[RenewalAttemptRecord]:
        """Oldest first."""
        a = renewal_attempts.c
        statement = (
            select(renewal_attempts).where(a.certificate_id == certificate_id).order_by(a.attempted_at, a.id)
        )
        return await self._all(RenewalAttemptRecord, statement)

    async def _set_state(self, certificate_id: str, holder: str, **values: object) -> None:
        s = renewal_states.c
        statement = (
            update(renewal_states)
            .where(s.certificate_id == certificate_id, s.holder == holder)
            .values(holder=None, claimed_until=None, **values)
        )
        await self._execute(statement)

    async def _attempt(
        self,
        certificate_id: str,
        holder: str,
        at: datetime,
        outcome: RenewalOutcome,
        *,
        error: str | None = None,
        successor_id: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> RenewalAttemptRecord:
        values = dict(
            id=make_id(),
            certificate_id=certificate_id,
            attempted_at=at,
            outcome=outcome,
            error=error,
            successor_id=successor_id,
            next_attempt_at=next_attempt_at,
            holder=holder,
        )
        return await self._inserted(RenewalAttemptRecord, renewal_attempts, values)
