"""Challenges (RFC 8555 §7.5.1, §8): a client's POST queues the challenge in the database; workers in
any process or replica claim queued ones, ask the VA, and record the outcome with the authorization's
and orders' new status in one transaction. Pending work survives a restart because it is a row."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from acme_server.errors import Malformed, NotFound
from acme_server.observability import metrics
from acme_server.problems import ACME_ERROR
from acme_server.services.acme.accounts import Account, owned
from acme_server.services.acme.authorizations import VALID_LIFETIME, effective_status, propagate
from acme_server.services.platform import rate_limits
from acme_server.services.ports import (
    ChallengeType,
    IdentifierType,
    ValidationOutcome,
    ValidationTask,
    Validator,
)
from acme_server.services.runtime import Runtime
from acme_server.statuses import AuthorizationStatus, ChallengeStatus
from acme_server.storage import AuthorizationRecord, ChallengeRecord

__all__ = ["ChallengeRecord"]
from ca_core.jose import parse_jwk

log = logging.getLogger("acme_server.validation")

STALE_CLAIM = timedelta(minutes=2)  # a claim older than this is a crashed worker's; take it over
POLL_INTERVAL = 1.0
IN_FLIGHT = 64  # validations one worker runs at once


async def respond(
    rt: Runtime, account: Account, challenge_id: str, *, wait: float = 0.0
) -> tuple[ChallengeRecord, AuthorizationRecord]:
    """The client says "ready" (§7.5.1). Idempotent: a challenge already processing or final is
    returned unchanged (cert-manager posts twice). With `wait`, a challenge left processing is
    answered once its validation is recorded, or after `wait` seconds, whichever comes first: on a
    network where validation takes milliseconds the client's first poll then finds the outcome, so
    an authorization costs one poll instead of several (docs/performance.md "Server runtime")."""
    async with rt.storage.transaction() as tx:
        found = await tx.challenges.get_with_authorization(challenge_id)
        if found is None:
            raise NotFound("challenge", challenge_id)
        challenge, authorization = found
        owned(authorization, account, "authorization", authorization.id)
        if challenge.status == ChallengeStatus.PENDING:
            status = effective_status(authorization, rt.clock.now())
            if status != AuthorizationStatus.PENDING:
                raise Malformed(f"the authorization is {status}; its challenges can no longer be answered")
            if await tx.challenges.begin_processing(challenge_id):
                found = await tx.challenges.get_with_authorization(challenge_id)
                assert found is not None
    rt.wake_validators()
    if wait > 0 and found[0].status == ChallengeStatus.PROCESSING:
        await rt.wait_for_outcome(challenge_id, wait)
        async with rt.storage.read_one() as tx:  # one statement
            found = await tx.challenges.get_with_authorization(challenge_id)
        if found is None:  # deleted meanwhile (its account's data purged)
            raise NotFound("challenge", challenge_id)
    return found


@dataclass(frozen=True)
class _Work:
    challenge: ChallengeRecord
    authorization: AuthorizationRecord
    task: ValidationTask


async def _claim(rt: Runtime, limit: int, *, started: datetime | None = None) -> list[_Work]:
    """Claim due challenges and load what validating them needs in a fixed number of queries. A
    worker that `started` at a time also takes over at once every claim made before it: after a
    crash and restart those are the dead process's, which would otherwise wait STALE_CLAIM (a live
    replica's validation in flight at that moment is made twice; the first outcome recorded wins)."""
    now = rt.clock.now()
    stale_after = STALE_CLAIM if started is None else max(min(STALE_CLAIM, now - started), timedelta(0))
    async with rt.storage.transaction() as tx:
        claimed = await tx.challenges.claim_due(now=now, stale_after=stale_after, limit=limit)
        if not claimed:
            return []
        parents = {
            a.id: a for a in await tx.authorizations.get_many(list({c.authorization_id for c in claimed}))
        }
        thumbprints: dict[str, str] = {}
        for account_id in {a.account_id for a in parents.values()}:
            account = await tx.accounts.get(account_id)
            if account is not None:
                thumbprints[account_id] = parse_jwk(account.jwk).thumbprint
    work: list[_Work] = []
    for challenge in claimed:
        authorization = parents.get(challenge.authorization_id)
        if authorization is None or authorization.account_id not in thumbprints:
            continue
        task = ValidationTask(
            challenge_type=ChallengeType(challenge.type),
            identifier_type=IdentifierType(authorization.identifier_type),
            identifier_value=authorization.identifier_value,
            token=challenge.token,
            key_authorization=f"{challenge.token}.{thumbprints[authorization.account_id]}",  # §8.1
            account_uri=rt.account_url(authorization.account_id),
            account_hash_prefix=rt.account_hash_prefix,
            wildcard=authorization.wildcard,
        )
        work.append(_Work(challenge, authorization, task))
    return work


async def _record(rt: Runtime, work: _Work, outcome: ValidationOutcome) -> None:
    now = rt.clock.now()
    error = None
    if not outcome.valid:
        error = {
            "type": ACME_ERROR + (outcome.error_type or "serverInternal"),
            "detail": outcome.detail or "",
            "status": 403 if outcome.error_type == "unauthorized" else 400,
        }
    async with rt.storage.transaction() as tx:
        if not await tx.challenges.complete(
            work.challenge.id,
            status=ChallengeStatus.VALID if outcome.valid else ChallengeStatus.INVALID,
            validated_at=now if outcome.valid else None,
            error=error,
        ):
            return  # another worker recorded it (a stale claim taken over)
        status = AuthorizationStatus.VALID if outcome.valid else AuthorizationStatus.INVALID
        expires = now + VALID_LIFETIME if outcome.valid else None  # a proven name stays usable longer
        if expires is not None and outcome.valid_until is not None:
            expires = min(expires, outcome.valid_until)  # dns-persist-01 persistUntil (draft -02 §4.1)
        if await tx.authorizations.set_status(
            work.authorization.id, status, expected=AuthorizationStatus.PENDING, expires_at=expires
        ):
            await propagate(tx, work.authorization.id, status)
    if not outcome.valid:  # docs/security.md "Rate limits": checked at the account's next newOrder
        authorization = work.authorization
        identifier = f"{authorization.identifier_type}:{authorization.identifier_value}"
        await rate_limits.count_failed_validation(rt, authorization.account_id, identifier)
    rt.outcome_recorded(work.challenge.id)


async def _validate_one(rt: Runtime, validator: Validator, work: _Work, delay: float) -> None:
    if delay:
        await asyncio.sleep(delay)
    started = time.perf_counter()
    outcome = await validator.validate(work.task)
    result = ChallengeStatus.VALID if outcome.valid else ChallengeStatus.INVALID
    kind = work.task.challenge_type.value
    metrics.VALIDATION_SECONDS.labels(kind, result).observe(time.perf_counter() - started)
    metrics.VALIDATIONS.labels(kind, result).inc()
    await _record(rt, work, outcome)


async def validate_due(rt: Runtime, validator: Validator, *, limit: int = 32, delay: float = 0.0) -> int:
    """One pass: claim, validate concurrently, record each as it completes. Returns how many were
    handled. `delay` is the client testing aid that makes validation slow on purpose."""
    work = await _claim(rt, limit)
    await asyncio.gather(*(_validate_one(rt, validator, item, delay) for item in work))
    return len(work)


async def run_worker(
    rt: Runtime,
    validator: Validator,
    stop: asyncio.Event,
    *,
    delay: float = 0.0,
    in_flight: int = IN_FLIGHT,
) -> None:
    """Validate until `stop` is set: woken at once by a local challenge POST, else polling the table
    (work queued by another process or left by a restart). Each claimed challenge is validated in a
    task of its own and recorded the moment it completes, so one slow or unreachable client never
    holds back the others, and new work is claimed as soon as a slot is free (at most `in_flight` at
    once per worker)."""
    worker = uuid.uuid4().hex[:8]
    started = rt.clock.now()
    log.info("validation worker %s started", worker)
    running: set[asyncio.Task[None]] = set()
    slot_freed = asyncio.Event()

    def finished(task: asyncio.Task[None]) -> None:
        running.discard(task)
        slot_freed.set()
        if not task.cancelled() and task.exception() is not None:
            # the claim stays; another pass takes it over after STALE_CLAIM
            log.warning("validation worker %s: %s", worker, task.exception())

    try:
        while not stop.is_set():
            free = in_flight - len(running)
            if free <= 0:
                slot_freed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(slot_freed.wait(), POLL_INTERVAL)
                continue
            try:
                work = await _claim(rt, free, started=started)
            except OSError as exc:  # the database went away for a moment; keep the worker alive
                log.warning("validation worker %s: %s", worker, exc)
                work = []
            for item in work:
                task = asyncio.create_task(_validate_one(rt, validator, item, delay))
                running.add(task)
                task.add_done_callback(finished)
            if not work:
                await rt.wait_for_validation_work(POLL_INTERVAL)
    finally:
        if running:  # let started validations record their outcome
            await asyncio.gather(*running, return_exceptions=True)


async def get_challenge(
    rt: Runtime, account: Account, challenge_id: str
) -> tuple[ChallengeRecord, AuthorizationRecord]:
    async with rt.storage.read_one() as tx:  # one statement
        found = await tx.challenges.get_with_authorization(challenge_id)
    if found is None:
        raise NotFound("challenge", challenge_id)
    owned(found[1], account, "authorization", found[1].id)
    return found
