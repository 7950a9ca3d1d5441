"""Server-driven auto-renewal: which certificates are due (auto-renew on, server-held key, not issued
over ACME, within their profile's renewBeforeDays), the scheduler pass that renews each one exactly
once across workers and replicas (a claim row per certificate, storage/renewals.py), back-off after a
failure, the record of every attempt, and switching auto-renewal per certificate."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from acme_server.errors import AlreadyRenewed, NotRenewable
from acme_server.observability import metrics
from acme_server.services.config import catalog
from acme_server.services.inventory import certificates
from acme_server.services.inventory.certificates import CertificateInfo
from acme_server.services.platform import audit
from acme_server.services.renewal import rotation_progress
from acme_server.services.renewal.now import renew_certificate
from acme_server.services.runtime import Runtime
from acme_server.statuses import CertificateStatus
from acme_server.storage import CertificateRecord, RenewalAttemptRecord, Tx
from ca_core.errors import CAError

log = logging.getLogger("acme_server.renewals")

# A claim outlives any one renewal (a signature and two transactions) by far; a worker that died
# holding one only delays that certificate this long.
CLAIM_TTL: Final = timedelta(minutes=10)
BACKOFF_FIRST: Final = timedelta(minutes=5)  # doubled after each further failure ...
BACKOFF_MAX: Final = timedelta(hours=6)  # ... up to this
DEFAULT_INTERVAL: Final = 300.0  # seconds between scheduler passes in the server


def backoff(failures: int) -> timedelta:
    """How long to wait after the `failures`-th failure in a row: 5 min, 10, 20 ... at most 6 h."""
    doublings = min(max(failures - 1, 0), 16)  # past 16 the cap has long been reached
    return min(BACKOFF_FIRST * (1 << doublings), BACKOFF_MAX)


def renew_after(not_before: datetime, not_after: datetime, window: timedelta) -> datetime:
    """When a certificate becomes due: `window` (renewBeforeDays) before it expires. A certificate that
    lives no longer than the window is due at half its lifetime instead; otherwise it would be due
    again the moment it was renewed, and renewed on every pass."""
    lifetime = not_after - not_before
    return not_after - window if window < lifetime else not_before + lifetime / 2


def new_holder() -> str:
    """Names this worker in claims and attempts: host, process and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class RenewalAttempt:
    certificate_id: str
    attempted_at: datetime
    outcome: str  # 'renewed' | 'failed'
    error: str | None
    successor_id: str | None
    next_attempt_at: datetime | None
    holder: str


@dataclass(frozen=True)
class RenewalStatus:
    """What the details page shows about a certificate's auto-renewal."""

    certificate_id: str
    auto_renew: bool
    eligible: bool  # the server can renew it (key held, not ACME, active, not renewed yet)
    renew_after: datetime | None  # when it becomes due (see renew_after())
    failures: int
    next_attempt_at: datetime | None
    last_error: str | None
    attempts: list[RenewalAttempt]


def _attempt(record: RenewalAttemptRecord) -> RenewalAttempt:
    return RenewalAttempt(
        record.certificate_id,
        record.attempted_at,
        record.outcome,
        record.error,
        record.successor_id,
        record.next_attempt_at,
        record.holder,
    )


def check_auto_renewable(record: CertificateRecord) -> None:
    """Raise NotRenewable unless the server can renew `record` on its own (the seed: API enrollment
    with a server-generated key)."""
    if record.enrollment == "acme":
        raise NotRenewable(
            f"certificate {record.serial} was issued over ACME; its ACME client renews it, not the server"
        )
    if record.sealed_key is None:
        raise NotRenewable(
            f"certificate {record.serial} was issued from a CSR; auto-renewal needs a server-generated key"
        )


def _is_eligible(record: CertificateRecord) -> bool:
    try:
        check_auto_renewable(record)
    except NotRenewable:
        return False
    return (
        record.status == CertificateStatus.ACTIVE
        and record.renewed_by_id is None
        and record.profile_id is not None
    )


async def set_auto_renew(rt: Runtime, certificate_id: str, enabled: bool) -> CertificateInfo:
    """Switch server-driven renewal of one certificate on or off. Switching it on for a certificate
    issued over ACME or from a CSR raises NotRenewable; switching off always works."""
    async with rt.storage.transaction() as tx:
        record = await certificates.find_record(tx, certificate_id)
        if enabled:
            check_auto_renewable(record)
        await tx.certificates.set_auto_renew(record.id, enabled)
        detail = {"serial": record.serial, "enabled": enabled}
        await audit.record(tx, audit.current(), "certificate.auto_renew", "certificate", record.id, detail)
    return await certificates.get_certificate(rt, record.id)


async def _windows(rt: Runtime) -> dict[str, timedelta]:
    """Each profile's renewBeforeDays, by profile id."""
    configuration = await catalog.current(rt)
    return {profile_id: timedelta(days=p.renew_before_days) for profile_id, p in configuration.profiles()}


async def get_renewal_status(rt: Runtime, certificate_id: str) -> RenewalStatus:
    async with rt.storage.read() as tx:
        record = await certificates.find_record(tx, certificate_id)
        state = await tx.renewals.get_state(record.id)
        attempts = await tx.renewals.list_attempts(record.id)
    window = (await _windows(rt)).get(record.profile_id or "")
    return RenewalStatus(
        certificate_id=record.id,
        auto_renew=record.auto_renew,
        eligible=_is_eligible(record),
        renew_after=None if window is None else renew_after(record.not_before, record.not_after, window),
        failures=0 if state is None else state.failures,
        next_attempt_at=None if state is None else state.next_attempt_at,
        last_error=None if state is None else state.last_error,
        attempts=[_attempt(a) for a in attempts],
    )


async def run_due(
    rt: Runtime,
    *,
    holder: str | None = None,
    limit: int = 100,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[RenewalAttempt]:
    """One scheduler pass: renew every due certificate this worker manages to claim; the attempts it
    made, in order; `on_progress(done, total)` after each candidate (the CLI's progress line). Safe
    to run in any number of workers, replicas and `renewals run-due` processes at once: each
    certificate is claimed by one of them, and the successor is stored only if the old certificate
    had none (services/renewal/now.py)."""
    holder = holder or new_holder()
    now = rt.clock.now()
    attempts: list[RenewalAttempt] = []
    # A CA under rotation: its certificates are due at their own renewal moment
    # (services/renewal/rotation.py).
    for certificate_id in await rotation_progress.renewal_due(rt, limit=limit):
        attempt = await _renew_claimed(rt, certificate_id, holder)
        if attempt is not None:
            attempts.append(attempt)
    windows = await _windows(rt)
    if not windows:
        return attempts
    async with rt.storage.read() as tx:
        due = await tx.renewals.list_due(now=now, expiring_before=now + max(windows.values()), limit=limit)
    for done, candidate in enumerate(due, start=1):
        window = windows.get(candidate.profile_id or "")
        if window is not None and renew_after(candidate.not_before, candidate.not_after, window) <= now:
            attempt = await _renew_claimed(rt, candidate.id, holder)
            if attempt is not None:
                attempts.append(attempt)
        if on_progress is not None:
            on_progress(done, len(due))
    return attempts


async def _renew_claimed(rt: Runtime, certificate_id: str, holder: str) -> RenewalAttempt | None:
    """Claim, re-check, renew and record one certificate; None when another worker has it or it is
    no longer eligible (renewed, revoked or switched off since the list was read)."""
    async with rt.storage.transaction() as tx:
        if not await tx.renewals.try_claim(certificate_id, holder, now=rt.clock.now(), ttl=CLAIM_TTL):
            return None
        record = await tx.certificates.get(certificate_id)
    if record is None or not record.auto_renew or not _is_eligible(record):
        await _release(rt, certificate_id, holder)
        return None
    recorded: list[RenewalAttemptRecord] = []

    async def record_success(tx: Tx, successor: CertificateInfo) -> None:
        # the attempt is stored with the successor, in its transaction: no gap in which one exists
        # without the other (a crash there would leave the claim held until CLAIM_TTL)
        recorded.append(
            await tx.renewals.record_success(
                certificate_id, holder, at=rt.clock.now(), successor_id=successor.id
            )
        )

    try:
        await renew_certificate(rt, certificate_id, actor=f"scheduler {holder}", bookkeeping=record_success)
    except AlreadyRenewed:
        await _release(rt, certificate_id, holder)
        return None
    except CAError as exc:
        return await _record_failure(rt, certificate_id, holder, exc.detail)
    metrics.RENEWALS.labels("renewed").inc()
    return _attempt(recorded[0])


async def _release(rt: Runtime, certificate_id: str, holder: str) -> None:
    async with rt.storage.transaction() as tx:
        await tx.renewals.release(certificate_id, holder)


async def _record_failure(rt: Runtime, certificate_id: str, holder: str, error: str) -> RenewalAttempt:
    now = rt.clock.now()
    async with rt.storage.transaction() as tx:
        state = await tx.renewals.get_state(certificate_id)
        failures = 1 if state is None else state.failures + 1
        recorded = await tx.renewals.record_failure(
            certificate_id, holder, at=now, error=error, retry_at=now + backoff(failures)
        )
    metrics.RENEWALS.labels("failed").inc()
    log.warning("renewal of certificate %s failed (%d in a row): %s", certificate_id, failures, error)
    return _attempt(recorded)


async def run_scheduler(rt: Runtime, stop: asyncio.Event, *, interval: float = DEFAULT_INTERVAL) -> None:
    """The server's renewal loop: a pass now and every `interval` seconds until `stop` is set."""
    holder = new_holder()
    log.info("renewal scheduler %s started (every %gs)", holder, interval)
    while not stop.is_set():
        try:
            attempts = await run_due(rt, holder=holder)
        except Exception:  # this loop is an edge, like a request's: a pass that failed (the database
            # went away, a bug) is logged with its traceback and the next tick tries again, instead of
            # the task dying quietly and renewals stopping for good
            log.exception("renewal scheduler %s: the pass failed; retrying in %gs", holder, interval)
        else:
            if attempts:
                log.info("renewal scheduler %s: %d attempt(s)", holder, len(attempts))
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
