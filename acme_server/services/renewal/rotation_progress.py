"""A CA rotation as operators follow it: the rotation, its progress counted from the certificates (on OLD,
renewed, not renewing past their moment and grace), whether OLD's CRL is still published, and each
certificate's own renewal moment. Reads only; every change of a rotation is rotation.py's."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from acme_server.errors import NotFound
from acme_server.services.config import cas
from acme_server.services.renewal.ari import RENEWAL_REQUESTED
from acme_server.services.runtime import Runtime
from acme_server.services.status import crls
from acme_server.statuses import RotationState
from acme_server.storage import RotationRecord, Tx
from ca_core.durations import parse_duration


@dataclass(frozen=True)
class Rotation:
    id: str
    old_ca_id: str
    old_ca: str  # names, for people
    new_ca_id: str
    new_ca: str
    state: RotationState
    spread: timedelta
    grace: timedelta
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class RotationProgress:
    """A rotation and its counts as of `as_of` (queries over the certificates, never stored)."""

    rotation: Rotation
    as_of: datetime
    on_old: int  # active, unexpired, not renewed certificates OLD issued
    renewed: int  # certificates of OLD renewed by a certificate NEW issued
    not_renewing: int  # of on_old: renewal moment plus grace passed, no successor (clients ignoring ARI)
    # OLD's CRL is published until the last certificate OLD signed expires (services/status/crls.py
    # publishing_ends): that moment (None: it signed nothing), and whether it is still published.
    crl_until: datetime | None = None
    crl_published: bool = True

    @property
    def waiting(self) -> int:
        """Certificates on OLD whose moment (plus grace) has not passed yet."""
        return self.on_old - self.not_renewing


def parse_period(text: str, *, field: str) -> timedelta:
    """A spread or grace: '0' (none) or a duration like '7d', '12h'."""
    return timedelta(0) if text.strip() == "0" else parse_duration(text, field=field)


def renewal_moment(certificate_id: str, start: datetime, spread: timedelta) -> datetime:
    """The certificate's own moment in [start, start + spread], the same for the same id every time
    (SHA-256 of the id as a fraction), to the second: a fleet renews spread out, not at once."""
    fraction = int.from_bytes(hashlib.sha256(certificate_id.encode()).digest()[:8], "big") / 2**64
    return (start + spread * fraction).replace(microsecond=0)


def moment_text(moment: datetime) -> str:
    # One fixed format (UTC, seconds) so that the stored moments compare as text in SQL.
    return moment.replace(microsecond=0).isoformat(timespec="seconds")


def _rotation(record: RotationRecord, names: dict[str, str]) -> Rotation:
    return Rotation(
        id=record.id,
        old_ca_id=record.old_ca_id,
        old_ca=names.get(record.old_ca_id, record.old_ca_id),
        new_ca_id=record.new_ca_id,
        new_ca=names.get(record.new_ca_id, record.new_ca_id),
        state=record.state,
        spread=timedelta(seconds=record.spread_seconds),
        grace=timedelta(seconds=record.grace_seconds),
        started_at=record.started_at,
        finished_at=record.finished_at,
    )


async def progress(rt: Runtime, tx: Tx, record: RotationRecord) -> RotationProgress:
    now = rt.clock.now()
    overdue = moment_text(now - timedelta(seconds=record.grace_seconds))
    counts = await tx.rotations.counts(
        record.old_ca_id, record.new_ca_id, key=RENEWAL_REQUESTED, now=now, overdue=overdue
    )
    records = await tx.cas.list()
    names = {r.id: r.name for r in records}
    old = next((r for r in records if r.id == record.old_ca_id), None)
    crl_until = await crls.publishing_ends(tx, old, records) if old is not None else None
    return RotationProgress(
        _rotation(record, names),
        now,
        counts.on_old,
        counts.renewed,
        counts.not_renewing,
        crl_until=crl_until,
        crl_published=old is None or not crls.is_retired(old, crl_until, now),
    )


async def progress_of(rt: Runtime, rotation_id: str) -> RotationProgress:
    async with rt.storage.read() as tx:
        record = await tx.rotations.get(rotation_id)
        if record is None:
            raise NotFound("rotation", rotation_id)
        return await progress(rt, tx, record)


async def rotation_status(rt: Runtime, old_ref: str) -> RotationProgress:
    """The CA's rotation under way, else its latest one, with its counts now."""
    async with rt.storage.read() as tx:
        old = await cas.find_record(tx, old_ref)
        record = await tx.rotations.latest_for(old.id)
        if record is None:
            raise NotFound("rotation of CA", old.name)
        return await progress(rt, tx, record)


async def find_rotation(rt: Runtime, old_ref: str) -> RotationProgress | None:
    """rotation_status, or None when the CA was never rotated (the UI's panel)."""
    try:
        return await rotation_status(rt, old_ref)
    except NotFound:
        return None


async def renewal_due(rt: Runtime, *, limit: int = 100) -> list[str]:
    """Certificates the scheduler renews itself (API enrollment, auto-renewal on) whose CA is under
    rotation and whose renewal moment has come (services/renewal/scheduler.py run_due)."""
    now = rt.clock.now()
    async with rt.storage.read() as tx:
        found = await tx.rotations.renewal_requested(RENEWAL_REQUESTED, now=now, limit=limit)
    cutoff = moment_text(now)
    return [certificate_id for certificate_id, moment in found if moment <= cutoff]
