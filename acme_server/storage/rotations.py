"""CA rotations: the tracked row (state changes are conditional UPDATEs), the per-certificate renewal
moments a rotation stores, and the progress counts, computed from the certificates themselves."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import aliased

from acme_server.statuses import CertificateStatus, RotationState
from acme_server.storage.base import Repository, inserting, make_id
from acme_server.storage.tables import ca_rotations, certificate_metadata, certificates


@dataclass(frozen=True, slots=True)
class RotationRecord:
    id: str
    old_ca_id: str
    new_ca_id: str
    active_old_ca_id: str | None  # old_ca_id while under way, None once completed or cancelled
    state: RotationState
    spread_seconds: int
    grace_seconds: int
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class RotationCounts:
    """What a rotation has achieved so far (services/renewal/rotation.py names the fields for operators)."""

    on_old: int  # active, unexpired, not renewed, still issued by the old CA
    renewed: int  # certificates of the old CA whose successor the new CA issued
    not_renewing: int  # of on_old: their renewal moment plus the grace has passed


class RotationRepository(Repository):
    async def create(
        self,
        *,
        old_ca_id: str,
        new_ca_id: str,
        spread_seconds: int,
        grace_seconds: int,
        started_at: datetime,
    ) -> RotationRecord:
        """A rotation in state `started`; a Conflict (the unique key) while the old CA has another."""
        values = dict(
            id=make_id(),
            old_ca_id=old_ca_id,
            new_ca_id=new_ca_id,
            active_old_ca_id=old_ca_id,
            state=RotationState.STARTED,
            spread_seconds=spread_seconds,
            grace_seconds=grace_seconds,
            started_at=started_at,
            finished_at=None,
        )
        return await self._inserted(RotationRecord, ca_rotations, values)

    async def get(self, rotation_id: str) -> RotationRecord | None:
        statement = select(ca_rotations).where(ca_rotations.c.id == rotation_id)
        return await self._one_or_none(RotationRecord, statement)

    async def latest_for(self, old_ca_id: str) -> RotationRecord | None:
        """The old CA's rotation under way, else its most recent one."""
        r = ca_rotations.c
        statement = (
            select(ca_rotations)
            .where(r.old_ca_id == old_ca_id)
            .order_by(r.active_old_ca_id.is_(None), r.started_at.desc(), r.id.desc())
            .limit(1)
        )
        return await self._one_or_none(RotationRecord, statement)

    async def list_active(self) -> builtins.list[RotationRecord]:
        statement = (
            select(ca_rotations)
            .where(ca_rotations.c.active_old_ca_id.is_not(None))
            .order_by(ca_rotations.c.started_at, ca_rotations.c.id)
        )
        return await self._all(RotationRecord, statement)

    async def transition(
        self,
        rotation_id: str,
        expected: Sequence[RotationState],
        state: RotationState,
        *,
        finished_at: datetime | None = None,
    ) -> bool:
        """Move to `state` only from one of `expected` (ARCHITECTURE rule 6); False for the loser of a
        race. Ending a rotation (finished_at given) frees its old CA for another."""
        values: dict[str, object] = {"state": state}
        if finished_at is not None:
            values.update(finished_at=finished_at, active_old_ca_id=None)
        statement = (
            update(ca_rotations)
            .where(ca_rotations.c.id == rotation_id, ca_rotations.c.state.in_(expected))
            .values(**values)
        )
        return (await self._execute(statement)).rowcount == 1

    async def unmarked_certificates(self, ca_id: str, key: str, *, now: datetime) -> builtins.list[str]:
        """Ids of the CA's active, unexpired certificates that lack the metadata `key`."""
        c, m = certificates.c, certificate_metadata.c
        statement = select(c.id).where(
            c.ca_id == ca_id,
            c.status == CertificateStatus.ACTIVE,
            c.not_after > now,
            c.id.not_in(select(m.certificate_id).where(m.key == key)),
        )
        return [row[0] for row in await self._execute(statement)]

    async def put_metadata_values(self, key: str, values: Mapping[str, str]) -> None:
        """Add key=value (a value of its own) to each certificate in `values`, in one executemany."""
        if values:
            rows = [{"certificate_id": cid, "key": key, "value": value} for cid, value in values.items()]
            await self._execute(inserting(certificate_metadata), rows)

    async def counts(
        self, old_ca_id: str, new_ca_id: str, *, key: str, now: datetime, overdue: str
    ) -> RotationCounts:
        """The progress of a rotation: `overdue` is the latest renewal moment (the ISO text the
        rotation stored under `key`) that counts as not renewing at `now`.

        A certificate's successor is the one its renewal link names (the scheduler's renewals, ACME
        orders with RFC 9773 `replaces`) or, for ACME clients that do not send `replaces` (certbot),
        a later certificate for the same account and the same names."""
        c, m = certificates.c, certificate_metadata.c
        successor = aliased(certificates)
        s = successor.c
        has_successor = (
            select(s.id)
            .where(
                s.ca_id == new_ca_id,
                or_(
                    s.id == c.renewed_by_id,
                    and_(s.account_id == c.account_id, s.san_text == c.san_text, s.created_at > c.created_at),
                ),
            )
            .exists()
        )
        on_old = (
            c.ca_id == old_ca_id,
            c.status == CertificateStatus.ACTIVE,
            c.not_after > now,
            c.renewed_by_id.is_(None),
            ~has_successor,
        )
        count_on_old = select(func.count()).select_from(certificates).where(*on_old)
        late = (
            select(func.count())
            .select_from(certificates.join(certificate_metadata, m.certificate_id == c.id))
            .where(*on_old, m.key == key, m.value <= overdue)
        )
        renewed = select(func.count()).select_from(certificates).where(c.ca_id == old_ca_id, has_successor)
        return RotationCounts(
            on_old=int((await self._execute(count_on_old)).scalar_one()),
            renewed=int((await self._execute(renewed)).scalar_one()),
            not_renewing=int((await self._execute(late)).scalar_one()),
        )

    async def renewal_requested(
        self, key: str, *, now: datetime, limit: int = 100
    ) -> builtins.list[tuple[str, str]]:
        """(id, moment) of the certificates the server renews itself (auto-renew on, active, not
        renewed, not ACME, key held) issued by a CA under rotation that carry `key`; the caller
        compares the moments."""
        c, m, r = certificates.c, certificate_metadata.c, ca_rotations.c
        statement = (
            select(c.id, m.value)
            .select_from(
                certificates.join(certificate_metadata, and_(m.certificate_id == c.id, m.key == key)).join(
                    ca_rotations, r.active_old_ca_id == c.ca_id
                )
            )
            .where(
                c.auto_renew.is_(True),
                c.status == CertificateStatus.ACTIVE,
                c.enrollment != "acme",
                c.sealed_key.is_not(None),
                c.renewed_by_id.is_(None),
                c.not_after > now,
            )
            .order_by(m.value, c.id)
            .limit(limit)
        )
        return [(str(row.id), str(row.value)) for row in await self._execute(statement)]
