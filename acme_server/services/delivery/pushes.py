"""Pushing syncs: one push of a sync at a time under its database lease (on demand, or queued on
issuance and renewal and taken by each server's push worker), its outcome recorded on the sync, and a
failed queued push retried with back-off."""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from acme_server.destinations import Bundle
from acme_server.errors import NotFound
from acme_server.observability import metrics
from acme_server.services import leases
from acme_server.services.delivery import records
from acme_server.services.inventory.bundles import pem_bundle_of
from acme_server.services.runtime import Runtime
from acme_server.statuses import CertificateStatus
from acme_server.storage import CertificateFilter, CertificateRecord, SyncRecord, Tx
from ca_core.errors import CAError

log = logging.getLogger("acme_server.syncs")

_MAX_RENEWALS_FOLLOWED: Final = 1000  # a renewal chain is never this long; stops a corrupt cycle
# A push holds its sync's lease at most this long (a reload command may take up to 600 s); another
# push of the same sync waits for it up to a minute.
PUSH_LEASE: Final = timedelta(minutes=15)
PUSH_WAIT_SECONDS: Final = 60.0
# A queued push (on issuance or renewal) that fails is queued again after RETRY_FIRST, doubling up to
# RETRY_LONGEST, at most RETRY_ATTEMPTS pushes in all; the count and the next try are in the sync's
# state (these keys, never handed to the destination) until a push succeeds.
RETRY_FIRST: Final = timedelta(seconds=30)
RETRY_LONGEST: Final = timedelta(hours=1)
RETRY_ATTEMPTS: Final = 10  # about three hours of retries
FAILED_ATTEMPTS: Final = "failedAttempts"
NEXT_ATTEMPT_AT: Final = "nextAttemptAt"


async def _current_certificate(tx: Tx, record: SyncRecord) -> CertificateRecord | None:
    """The certificate to push now: the bound one or its newest renewal, or the profile's newest
    active certificate."""
    if record.profile_id is not None:
        newest, _ = await tx.certificates.list(
            CertificateFilter(status=CertificateStatus.ACTIVE, profile_id=record.profile_id), limit=1
        )
        return newest[0] if newest else None
    assert record.certificate_id is not None
    certificate = await tx.certificates.get(record.certificate_id)
    for _ in range(_MAX_RENEWALS_FOLLOWED):
        if certificate is None or certificate.renewed_by_id is None:
            break
        certificate = await tx.certificates.get(certificate.renewed_by_id)
    return certificate


async def run_sync(rt: Runtime, ref: str) -> records.SyncInfo:
    """Push now (on demand). A failed push does not raise: it is the sync's last status and error."""
    async with rt.storage.read() as tx:
        record = await records.find_record(tx, ref)
    return await _push_sync(rt, record.id)


async def _push_sync(rt: Runtime, sync_id: str, queued_at: datetime | None = None) -> records.SyncInfo:
    """One push of a sync at a time across workers and replicas (a database lease), each reading the
    sync's state and its current certificate only once it holds the lease: two certificates issued at
    once on one profile end with the newer one pushed, and a first ACM import is never made twice."""
    async with leases.hold(rt, f"sync:{sync_id}", ttl=PUSH_LEASE, wait=PUSH_WAIT_SECONDS) as held:
        async with rt.storage.read() as tx:
            record = await records.find_record(tx, sync_id)
            certificate = await _current_certificate(tx, record) if held else None
        if not held:
            return await _record(
                rt, record, None, "another push of this sync is still running; try again", queued_at=queued_at
            )
        return await _push(rt, record, certificate, queued_at)


def _bundle(rt: Runtime, certificate: CertificateRecord) -> Bundle:
    pem = pem_bundle_of(rt, certificate)
    return Bundle(
        certificate.id,
        certificate.serial,
        certificate.common_name,
        pem.certificate,
        pem.chain,
        pem.private_key,
        names=tuple(certificate.san_text.split()),
        not_after=certificate.not_after,
        # The REST export (api/routes.py exportCertificate): an operator token fetches it there.
        download_url=f"{rt.public_url}/api/v1/cert-manager/certificates/{certificate.id}/export",
    )


def _destination_state(record: SyncRecord) -> dict[str, Any]:
    """What the destination remembers, without the retry bookkeeping kept beside it."""
    return {k: v for k, v in record.destination_state.items() if k not in (FAILED_ATTEMPTS, NEXT_ATTEMPT_AT)}


def retry_delay(failed_attempts: int) -> timedelta:
    """The wait after the `failed_attempts`-th failed queued push: 30 s, 1 min, 2 min ... at most 1 h."""
    delay: timedelta = RETRY_FIRST * (1 << (failed_attempts - 1))
    return min(delay, RETRY_LONGEST)


async def _push(
    rt: Runtime, record: SyncRecord, certificate: CertificateRecord | None, queued_at: datetime | None
) -> records.SyncInfo:
    state: dict[str, Any] | None = None
    error: str | None = None
    if certificate is None:
        error = "no certificate to push: the profile has no active certificate yet"
    else:
        try:
            result = await records.target(rt, record).push(
                _bundle(rt, certificate), _destination_state(record)
            )
        except CAError as exc:  # DestinationError, or a configuration that no longer holds
            error = exc.detail
            log.warning("sync %s: push of %s failed: %s", record.name, certificate.serial, error)
        else:
            state = result.state
            log.info("sync %s: %s", record.name, result.detail)
    if error is not None:
        metrics.SYNC_FAILURES.labels(record.name).inc()
    return await _record(rt, record, certificate, error, state, queued_at=queued_at)


async def _record(
    rt: Runtime,
    record: SyncRecord,
    certificate: CertificateRecord | None,
    error: str | None,
    state: dict[str, Any] | None = None,
    *,
    queued_at: datetime | None = None,
) -> records.SyncInfo:
    """The push's outcome on the sync, and for a queued push in the same transaction: unqueued when
    done (or out of attempts), else queued again with back-off (docs/renewals-and-syncs.md "Retries")."""
    at = rt.clock.now()
    retry_at = None
    if error is not None and queued_at is not None:
        # A retry is the push queued for the time the previous failure chose; anything else (a new
        # issuance or renewal) starts its own count.
        previous = record.destination_state
        retrying = previous.get(NEXT_ATTEMPT_AT) == queued_at.isoformat()
        failed = int(previous.get(FAILED_ATTEMPTS, 0)) + 1 if retrying else 1
        retry_at = at + retry_delay(failed) if failed < RETRY_ATTEMPTS else None
        state = {
            **record.destination_state,
            FAILED_ATTEMPTS: failed,
            NEXT_ATTEMPT_AT: None if retry_at is None else retry_at.isoformat(),
        }
    async with rt.storage.transaction() as tx:
        await tx.syncs.record_push(
            record.id,
            at=at,
            certificate_id=None if certificate is None else certificate.id,
            error=error,
            state=state,
        )
        if queued_at is not None and retry_at is not None:
            await tx.syncs.retry_push(record.id, queued_at=queued_at, retry_at=retry_at)
        elif queued_at is not None:
            await tx.syncs.clear_push(record.id, queued_at=queued_at)
        updated = await records.find_record(tx, record.id)
    if retry_at is not None:
        metrics.SYNC_RETRIES.labels(record.name).inc()
        log.info("sync %s: push queued again for %s", record.name, retry_at.isoformat())
    return records.sync_info(updated)


@dataclass(frozen=True)
class PendingPushes:
    """The syncs a newly stored certificate concerns, queued inside the transaction that stored it."""

    sync_ids: tuple[str, ...]


async def pending_pushes(tx: Tx, certificate_id: str, profile_id: str | None) -> PendingPushes:
    """Inside the storing transaction (one statement): queue a push to the syncs bound to the new
    certificate (a renewal moved its predecessor's syncs onto it) or to its profile's latest. The
    queue is a column, so a push survives a crash between this commit and the push."""
    queued = await tx.syncs.queue_pushes_for_issued(certificate_id, profile_id, at=datetime.now(UTC))
    return PendingPushes(tuple(queued))


async def push_pending(rt: Runtime, pending: PendingPushes) -> list[records.SyncInfo]:
    """After that transaction committed. In a server process the push worker takes the queued pushes
    (run_push_worker): the request that issued never waits for a destination; this wakes it and
    returns []. Without a worker (the CLI, a library caller) they are pushed here and returned.
    Failures are recorded on each sync, never raised into the issuance."""
    if not pending.sync_ids:
        return []
    if rt.push_worker_running:
        rt.wake_pushers()
        return []
    pushed = []
    for sync_id in pending.sync_ids:
        with suppress(NotFound):  # deleted since: nothing to push
            pushed.append(await _push_queued(rt, sync_id))
    return pushed


async def _push_queued(rt: Runtime, sync_id: str) -> records.SyncInfo:
    """Push a queued sync; then it is unqueued unless another push was queued after this one began,
    or queued again for a retry when it failed (_record)."""
    async with rt.storage.read() as tx:
        queued_at = (await records.find_record(tx, sync_id)).push_due_at
    return await _push_sync(rt, sync_id, queued_at)


async def push_due(rt: Runtime, *, limit: int) -> list[records.SyncInfo]:
    """One pass over the queue: the pushes due now (rt.clock), the longest waiting first; `limit` at most."""
    async with rt.storage.read() as tx:
        due = await tx.syncs.due_pushes(limit=limit, now=rt.clock.now())
    pushed = []
    for sync_id in due:
        with suppress(NotFound):  # deleted since: nothing to push
            pushed.append(await _push_queued(rt, sync_id))
    return pushed


PUSH_WORKER_POLL: Final = 2.0  # seconds between looks at the queue when not woken (other processes)
PUSH_BATCH: Final = 16


async def run_push_worker(rt: Runtime, stop: asyncio.Event) -> None:
    """Push queued syncs until `stop` is set: woken by an issuance in this process, else polling the
    queue (pushes queued by other processes, or left by a crash). One push of a sync at a time across
    processes: each push holds the sync's lease (_push_sync)."""
    rt.push_worker_running = True
    try:
        while not stop.is_set():
            try:
                due = await push_due(rt, limit=PUSH_BATCH)
            except (OSError, CAError) as exc:  # the database went away for a moment: keep going
                log.warning("sync push worker: %s", exc)
                due = []
            if len(due) < PUSH_BATCH:
                await rt.wait_for_push_work(PUSH_WORKER_POLL)
    finally:
        rt.push_worker_running = False
