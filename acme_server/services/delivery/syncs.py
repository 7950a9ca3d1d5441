"""Syncs: push a certificate (followed across renewals) or a profile's newest active certificate to a
destination (acme_server.destinations) on issuance, on renewal and on demand, recording each push's
outcome on the sync. Destination secrets are sealed with the KEK and never leave this module."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from acme_server.destinations import DESTINATIONS, Bundle, Target, get_destination
from acme_server.errors import Forbidden, NotFound
from acme_server.observability import metrics
from acme_server.services import leases
from acme_server.services.access.tokens import Role
from acme_server.services.config import named, profiles
from acme_server.services.inventory.bundles import pem_bundle_of
from acme_server.services.platform import audit
from acme_server.services.runtime import Runtime
from acme_server.statuses import CertificateStatus, SyncStatus
from acme_server.storage import CertificateFilter, CertificateRecord, SyncRecord, Tx
from ca_core.errors import CAError, InvalidSetting

log = logging.getLogger("acme_server.syncs")

_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_MAX_RENEWALS_FOLLOWED: Final = 1000  # a renewal chain is never this long; stops a corrupt cycle
# A push holds its sync's lease at most this long (a reload command may take up to 600 s); another
# push of the same sync waits for it up to a minute.
PUSH_LEASE: Final = timedelta(minutes=15)
PUSH_WAIT_SECONDS: Final = 60.0
# Before reload commands were named from the server's configuration, a failed one's output was kept
# in lastError (readable by every role); such a stored error is shown without that output.
_LEAKED_OUTPUT: Final = re.compile(r"(files written, but reload command .{0,2000}? exited -?\d+): .*", re.S)
# A queued push (on issuance or renewal) that fails is queued again after RETRY_FIRST, doubling up to
# RETRY_LONGEST, at most RETRY_ATTEMPTS pushes in all; the count and the next try are in the sync's
# state (these keys, never handed to the destination) until a push succeeds.
RETRY_FIRST: Final = timedelta(seconds=30)
RETRY_LONGEST: Final = timedelta(hours=1)
RETRY_ATTEMPTS: Final = 10  # about three hours of retries
FAILED_ATTEMPTS: Final = "failedAttempts"
NEXT_ATTEMPT_AT: Final = "nextAttemptAt"


@dataclass(frozen=True)
class SyncInfo:
    """A sync as every listing shows it: never its secrets, only whether it has some."""

    id: str
    name: str
    certificate_id: str | None
    profile_id: str | None
    destination_type: str
    destination_config: dict[str, Any]
    has_secrets: bool
    destination_state: dict[str, Any]
    last_status: SyncStatus
    last_error: str | None
    last_run_at: datetime | None
    last_certificate_id: str | None
    created_at: datetime
    next_push_at: datetime | None = None  # a queued push (or its retry) is due then

    def to_document(self) -> dict[str, Any]:
        """The camelCase shape the REST API and `sync ... --json` show (no secrets: hasSecrets only)."""
        return {
            "id": self.id,
            "name": self.name,
            "certificateId": self.certificate_id,
            "profileId": self.profile_id,
            "destinationType": self.destination_type,
            "config": self.destination_config,
            "hasSecrets": self.has_secrets,
            "state": self.destination_state,
            "lastStatus": self.last_status,
            "lastError": self.last_error,
            "lastRunAt": self.last_run_at,
            "lastCertificateId": self.last_certificate_id,
            "nextPushAt": self.next_push_at,
            "createdAt": self.created_at,
        }


def _info(record: SyncRecord) -> SyncInfo:
    return SyncInfo(
        id=record.id,
        name=record.name,
        certificate_id=record.certificate_id,
        profile_id=record.profile_id,
        destination_type=record.destination_type,
        destination_config=dict(record.destination_config),
        has_secrets=record.sealed_secrets is not None,
        destination_state=dict(record.destination_state),
        last_status=record.last_status,
        last_error=_shown_error(record.last_error),
        last_run_at=record.last_run_at,
        last_certificate_id=record.last_certificate_id,
        created_at=record.created_at,
        next_push_at=record.push_due_at,
    )


def _shown_error(error: str | None) -> str | None:
    if error is None:
        return None
    leaked = _LEAKED_OUTPUT.fullmatch(error)
    return error if leaked is None else leaked.group(1) + " (output withheld)"


def _secrets_context(name: str) -> bytes:
    return b"sync:" + name.encode()


def _secrets(rt: Runtime, record: SyncRecord) -> dict[str, str]:
    if record.sealed_secrets is None:
        return {}
    loaded: dict[str, str] = json.loads(
        rt.unseal_secret(record.sealed_secrets, context=_secrets_context(record.name))
    )
    return loaded


def _target(rt: Runtime, record: SyncRecord) -> Target:
    destination = get_destination(record.destination_type)
    return destination.configure(record.destination_config, _secrets(rt, record), rt.host)


def destination_types() -> list[str]:
    return sorted(DESTINATIONS)


def reload_command_names(rt: Runtime) -> list[str]:
    """The reload commands a `directory` sync may name: the server's configuration, never the API."""
    return sorted(rt.host.reload_commands)


async def find_record(tx: Tx, ref: str) -> SyncRecord:
    """A sync by id or name."""
    return await named.find(tx.syncs, "sync", ref)


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise InvalidSetting(
            "name", "use 1-64 letters, digits, '.', '-' and '_', starting with a letter or digit"
        )


async def create_sync(
    rt: Runtime,
    *,
    name: str,
    destination_type: str,
    config: Mapping[str, Any],
    secrets: Mapping[str, str] | None = None,
    certificate: str | None = None,
    profile: str | None = None,
    push: bool = True,
    role: Role = Role.ADMIN,
) -> SyncInfo:
    """Bind `certificate` (an id) or `profile`'s newest certificate (id or name) to a destination;
    the configuration is validated now (InvalidSetting naming the field). With `push`, the first
    push happens at once and its outcome is in the returned sync. `role` is the caller's (the local
    shell is an admin): settings that act on the server's host need an admin."""
    _check_name(name)
    if (certificate is None) == (profile is None):
        raise InvalidSetting("target", "give either a certificate or a profile")
    secrets = dict(secrets or {})
    destination = get_destination(destination_type)
    if not role.allows(Role.ADMIN) and isinstance(config, Mapping):
        reason = destination.admin_reason(config, rt.host)
        if reason is not None:
            raise Forbidden(reason)
    destination.configure(config, secrets, rt.host)
    sealed = rt.seal_secret(json.dumps(secrets).encode(), context=_secrets_context(name)) if secrets else None
    async with rt.storage.transaction() as tx:
        certificate_id = profile_id = None
        if certificate is not None:
            if await tx.certificates.get(certificate) is None:
                raise NotFound("certificate", certificate)
            certificate_id = certificate
        if profile is not None:
            profile_id = (await profiles.find_record(tx, profile)).id
        record = await tx.syncs.create(
            name=name,
            destination_type=destination_type,
            destination_config=config,
            certificate_id=certificate_id,
            profile_id=profile_id,
            sealed_secrets=sealed,
        )
        await audit.record(
            tx,
            audit.current(),
            "sync.create",
            "sync",
            record.id,
            {"name": name, "destinationType": destination_type},
        )
    return await run_sync(rt, record.id) if push else _info(record)


async def list_syncs(
    rt: Runtime, *, certificate: str | None = None, profile: str | None = None
) -> list[SyncInfo]:
    async with rt.storage.read() as tx:
        profile_id = None if profile is None else (await profiles.find_record(tx, profile)).id
        return [_info(r) for r in await tx.syncs.list(certificate_id=certificate, profile_id=profile_id)]


async def get_sync(rt: Runtime, ref: str) -> SyncInfo:
    async with rt.storage.read() as tx:
        return _info(await find_record(tx, ref))


async def delete_sync(rt: Runtime, ref: str) -> None:
    """Forget the sync; what it pushed stays where it is."""
    async with rt.storage.transaction() as tx:
        record = await find_record(tx, ref)
        await tx.syncs.delete(record.id)
        await audit.record(tx, audit.current(), "sync.delete", "sync", record.id, {"name": record.name})


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


async def run_sync(rt: Runtime, ref: str) -> SyncInfo:
    """Push now (on demand). A failed push does not raise: it is the sync's last status and error."""
    async with rt.storage.read() as tx:
        record = await find_record(tx, ref)
    return await _push_sync(rt, record.id)


async def _push_sync(rt: Runtime, sync_id: str, queued_at: datetime | None = None) -> SyncInfo:
    """One push of a sync at a time across workers and replicas (a database lease), each reading the
    sync's state and its current certificate only once it holds the lease: two certificates issued at
    once on one profile end with the newer one pushed, and a first ACM import is never made twice."""
    async with leases.hold(rt, f"sync:{sync_id}", ttl=PUSH_LEASE, wait=PUSH_WAIT_SECONDS) as held:
        async with rt.storage.read() as tx:
            record = await find_record(tx, sync_id)
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
) -> SyncInfo:
    state: dict[str, Any] | None = None
    error: str | None = None
    if certificate is None:
        error = "no certificate to push: the profile has no active certificate yet"
    else:
        try:
            result = await _target(rt, record).push(_bundle(rt, certificate), _destination_state(record))
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
) -> SyncInfo:
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
        updated = await find_record(tx, record.id)
    if retry_at is not None:
        metrics.SYNC_RETRIES.labels(record.name).inc()
        log.info("sync %s: push queued again for %s", record.name, retry_at.isoformat())
    return _info(updated)


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


async def push_pending(rt: Runtime, pending: PendingPushes) -> list[SyncInfo]:
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


async def _push_queued(rt: Runtime, sync_id: str) -> SyncInfo:
    """Push a queued sync; then it is unqueued unless another push was queued after this one began,
    or queued again for a retry when it failed (_record)."""
    async with rt.storage.read() as tx:
        queued_at = (await find_record(tx, sync_id)).push_due_at
    return await _push_sync(rt, sync_id, queued_at)


async def push_due(rt: Runtime, *, limit: int) -> list[SyncInfo]:
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
