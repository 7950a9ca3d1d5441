"""CA rotation as one tracked operation: NEW named or created (optionally cross-signed by OLD's root),
OLD's profiles moved to NEW, each active certificate of OLD given its own renewal moment in
[start, start + spread] (ACME clients see it through renewalInfo, the scheduler renews API
certificates with auto-renewal at it), and OLD disabled at the end; its progress is rotation_progress.py.
Every state change of a rotation happens in this module (the place for an audit call)."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from acme_server.errors import Conflict
from acme_server.services.config import ca_creation, cas, named
from acme_server.services.platform import audit
from acme_server.services.renewal import rotation_progress
from acme_server.services.renewal.ari import RENEWAL_REQUESTED
from acme_server.services.renewal.rotation_progress import RotationProgress
from acme_server.services.runtime import Runtime
from acme_server.statuses import ACTIVE_ROTATION_STATES, CAStatus, RotationState
from acme_server.storage import CARecord, RotationRecord
from ca_core.errors import InvalidSetting
from ca_core.keys import KeyAlgorithm
from ca_core.request import Subject

DEFAULT_SPREAD: Final = timedelta(days=7)  # a fleet renews over a week, not in one second
# After its moment a client that honours ARI renews within RETRY_AFTER (an hour) plus its own schedule
# (certbot's cron runs twice a day): a day later it counts as not renewing.
DEFAULT_GRACE: Final = timedelta(days=1)


def _root_of(records: dict[str, CARecord], record: CARecord) -> CARecord:
    while record.parent_id is not None and record.parent_id in records:
        record = records[record.parent_id]
    return record


async def _new_ca(rt: Runtime, old: CARecord, name: str, create: bool) -> CARecord:
    """NEW by id or name; with `create`, a new CA of that name beside OLD (under OLD's parent, or a
    root when OLD is one), with OLD's key algorithm."""
    if create:
        algorithm = KeyAlgorithm(old.key_algorithm)
        subject = Subject(common_name=name)
        if old.parent_id is not None:
            info = await ca_creation.create_intermediate_ca(
                rt, parent=old.parent_id, name=name, subject=subject, key_algorithm=algorithm
            )
        else:
            info = await ca_creation.create_root_ca(rt, name=name, subject=subject, key_algorithm=algorithm)
        name = info.id
    async with rt.storage.read() as tx:
        new = await cas.find_record(tx, name)
    if new.status != CAStatus.ACTIVE or new.certificate_pem is None:
        raise Conflict(f"CA {new.name!r} is {new.status}; a rotation needs an active CA to move to")
    return new


async def start_rotation(
    rt: Runtime,
    old_ref: str,
    *,
    to: str,
    create: bool = False,
    cross_sign: bool = False,
    spread: timedelta = DEFAULT_SPREAD,
    grace: timedelta = DEFAULT_GRACE,
) -> RotationProgress:
    """Rotate OLD onto NEW (`to`), or resume OLD's rotation onto the same NEW where it stopped. A
    rotation of OLD onto another CA under way is a Conflict (one at a time per CA)."""
    if spread < timedelta(0) or grace < timedelta(0):
        raise InvalidSetting("spread" if spread < timedelta(0) else "grace", "must not be negative")
    async with rt.storage.read() as tx:
        old = await cas.find_record(tx, old_ref)
        under_way = await tx.rotations.latest_for(old.id)
    if old.certificate_pem is None:
        raise Conflict(f"CA {old.name!r} has no certificate; it issued nothing to rotate")
    if under_way is not None and under_way.state.active:
        async with rt.storage.read() as tx:
            target = await tx.cas.get(under_way.new_ca_id)
            asked = await named.lookup(tx.cas, to)
        if create or asked is None or asked.id != under_way.new_ca_id:
            onto = target.name if target is not None else under_way.new_ca_id
            raise Conflict(
                f"CA {old.name!r} is already being rotated to {onto!r} (finish or cancel that rotation first)"
            )
        return await _advance(rt, under_way)
    if not create and to in (old.id, old.name):
        raise InvalidSetting("to", "a CA cannot be rotated onto itself")
    if create and cross_sign and old.parent_id is not None:
        # NEW would be made under OLD's parent: it chains to OLD's root already.
        raise Conflict(
            f"CA {to!r} would chain to the root of {old.name!r} already; no cross-signature is needed"
        )
    new = await _new_ca(rt, old, to, create)
    issuer = await _cross_signer(rt, old, new) if cross_sign else None
    async with rt.storage.transaction() as tx:
        record = await tx.rotations.create(
            old_ca_id=old.id,
            new_ca_id=new.id,
            spread_seconds=int(spread.total_seconds()),
            grace_seconds=int(grace.total_seconds()),
            started_at=rt.clock.now(),
        )
        await audit.record(
            tx,
            audit.current(),
            "ca.rotate",
            "ca",
            old.id,
            {"to": new.id, "spread": int(spread.total_seconds()), "crossSign": cross_sign},
        )
    if issuer is not None:
        # OLD's root signs NEW's key too: clients that trust only the old root still validate what
        # NEW issues (the alternate chain, RFC 8555 §7.4.2).
        await ca_creation.cross_sign_ca(rt, new.id, issuer=issuer)
    return await _advance(rt, record)


async def _cross_signer(rt: Runtime, old: CARecord, new: CARecord) -> str | None:
    """The id of OLD's root, which is to cross-sign NEW (None: it already did); a Conflict, before
    anything is written, when NEW already chains to that root."""
    async with rt.storage.read() as tx:
        records = {r.id: r for r in await tx.cas.list()}
        crosses = await tx.cross_certificates.list_for_ca(new.id)
    old_root = _root_of(records, old)
    if _root_of(records, new).id == old_root.id:
        raise Conflict(f"CA {new.name!r} already chains to {old_root.name!r}; no cross-signature is needed")
    if any(cross.issuer_id == old_root.id for cross in crosses):
        return None
    return old_root.id


async def _advance(rt: Runtime, record: RotationRecord) -> RotationProgress:
    """Run the steps left from the rotation's state; each is one transaction with its conditional
    state change, so a rotation stopped halfway resumes where it stopped."""
    if record.state == RotationState.STARTED:
        await _move_profiles(rt, record)
    if record.state in (RotationState.STARTED, RotationState.PROFILES_MOVED):
        await _mark_certificates(rt, record)
    return await rotation_progress.progress_of(rt, record.id)


async def _move_profiles(rt: Runtime, record: RotationRecord) -> None:
    async with rt.storage.transaction() as tx:
        for profile in await tx.profiles.list():
            if profile.ca_id == record.old_ca_id:
                document = {**profile.document, "caId": record.new_ca_id}
                await tx.profiles.update(
                    profile.id, document=document, ca_id=record.new_ca_id, policy_id=profile.policy_id
                )
        if not await tx.rotations.transition(
            record.id, [RotationState.STARTED], RotationState.PROFILES_MOVED
        ):
            raise Conflict("the rotation changed meanwhile; show its status")


async def _mark_certificates(rt: Runtime, record: RotationRecord) -> None:
    """Each active certificate of OLD gets its renewal moment (one an operator's "renew now" already
    gave it stays)."""
    now = rt.clock.now()
    spread = timedelta(seconds=record.spread_seconds)
    async with rt.storage.transaction() as tx:
        ids = await tx.rotations.unmarked_certificates(record.old_ca_id, RENEWAL_REQUESTED, now=now)
        moments = {
            cid: rotation_progress.moment_text(rotation_progress.renewal_moment(cid, now, spread))
            for cid in ids
        }
        await tx.rotations.put_metadata_values(RENEWAL_REQUESTED, moments)
        if not await tx.rotations.transition(
            record.id, [RotationState.STARTED, RotationState.PROFILES_MOVED], RotationState.RENEWING
        ):
            raise Conflict("the rotation changed meanwhile; show its status")


async def _under_way(rt: Runtime, old_ref: str) -> RotationProgress:
    progress = await rotation_progress.rotation_status(rt, old_ref)
    if not progress.rotation.state.active:
        raise Conflict(f"CA {progress.rotation.old_ca!r} has no rotation under way")
    return progress


async def finish_rotation(rt: Runtime, old_ref: str, *, force: bool = False) -> RotationProgress:
    """Disable OLD and complete its rotation; refused while active certificates still depend on OLD,
    unless `force`. OLD's CRL goes on being published until the last certificate it signed expires
    (services/status/crls.py is_retired), so revocations of its remaining certificates stay visible."""
    progress = await _under_way(rt, old_ref)
    rotation = progress.rotation
    if rotation.state != RotationState.RENEWING:
        raise Conflict(
            f"the rotation of {rotation.old_ca!r} is {rotation.state}; resume it with ca rotate first"
        )
    if progress.on_old and not force:
        raise Conflict(
            f"{progress.on_old} active certificate(s) still depend on CA {rotation.old_ca!r}"
            f" ({progress.not_renewing} not renewing); wait for them, or force it"
        )
    async with rt.storage.transaction() as tx:
        if not await tx.rotations.transition(
            rotation.id, [RotationState.RENEWING], RotationState.COMPLETED, finished_at=rt.clock.now()
        ):
            raise Conflict("the rotation changed meanwhile; show its status")
        await tx.cas.set_status(rotation.old_ca_id, CAStatus.DISABLED)
        await audit.record(
            tx,
            audit.current(),
            "ca.rotation.finish",
            "ca",
            rotation.old_ca_id,
            {"forced": bool(progress.on_old)},
        )
    return await rotation_progress.progress_of(rt, rotation.id)


async def cancel_rotation(rt: Runtime, old_ref: str) -> RotationProgress:
    """Stop tracking OLD's rotation: profiles stay on NEW and renewal moments already given stay
    (move a profile back with `profile update`); OLD stays enabled."""
    rotation = (await _under_way(rt, old_ref)).rotation
    async with rt.storage.transaction() as tx:
        if not await tx.rotations.transition(
            rotation.id,
            ACTIVE_ROTATION_STATES,
            RotationState.CANCELLED,
            finished_at=rt.clock.now(),
        ):
            raise Conflict("the rotation changed meanwhile; show its status")
        await audit.record(tx, audit.current(), "ca.rotation.cancel", "ca", rotation.old_ca_id)
    return await rotation_progress.progress_of(rt, rotation.id)
