"""Challenges (RFC 8555 §7.5.1, §8): a client's POST queues the challenge in the database; workers in
any process or replica claim queued ones, ask the VA, and record the outcome with the authorization's
and orders' new status in one transaction. Pending work survives a restart because it is a row."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from acme_server.errors import Malformed, NotFound
from acme_server.problems import ACME_ERROR
from acme_server.services.accounts import Account
from acme_server.services.authorizations import VALID_LIFETIME, effective_status, owned, propagate
from acme_server.services.ports import (
    ChallengeType,
    IdentifierType,
    ValidationOutcome,
    ValidationTask,
    Validator,
)
from acme_server.services.runtime import Runtime
from acme_server.storage import AuthorizationRecord, ChallengeRecord

__all__ = ["ChallengeRecord"]
from ca_core.jose import parse_jwk

log = logging.getLogger("acme_server.validation")

STALE_CLAIM = timedelta(minutes=2)  # a claim older than this is a crashed worker's; take it over
POLL_INTERVAL = 1.0


async def respond(
    rt: Runtime, account: Account, challenge_id: str
) -> tuple[ChallengeRecord, AuthorizationRecord]:
    """The client says "ready" (§7.5.1). Idempotent: a challenge already processing or final is
    returned unchanged (cert-manager posts twice)."""
    async with rt.storage.transaction() as tx:
        found = await tx.challenges.get_with_authorization(challenge_id)
        if found is None:
            raise NotFound("challenge", challenge_id)
        challenge, authorization = found
        owned(authorization, account, authorization.id)
        if challenge.status == "pending":
            status = effective_status(authorization, rt.clock.now())
            if status != "pending":
                raise Malformed(f"the authorization is {status}; its challenges can no longer be answered")
            if await tx.challenges.begin_processing(challenge_id):
                found = await tx.challenges.get_with_authorization(challenge_id)
                assert found is not None
    rt.wake_validators()
    return found


@dataclass(frozen=True)
class _Work:
    challenge: ChallengeRecord
    authorization: AuthorizationRecord
    task: ValidationTask


async def _claim(rt: Runtime, limit: int) -> list[_Work]:
    """Claim due challenges and load what validating them needs in a fixed number of queries."""
    async with rt.storage.transaction() as tx:
        claimed = await tx.challenges.claim_due(now=rt.clock.now(), stale_after=STALE_CLAIM, limit=limit)
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
            status="valid" if outcome.valid else "invalid",
            validated_at=now if outcome.valid else None,
            error=error,
        ):
            return  # another worker recorded it (a stale claim taken over)
        status = "valid" if outcome.valid else "invalid"
        expires = now + VALID_LIFETIME if outcome.valid else None  # a proven name stays usable longer
        if await tx.authorizations.set_status(
            work.authorization.id, status, expected="pending", expires_at=expires
        ):
            await propagate(tx, work.authorization.id, status)


async def validate_due(rt: Runtime, validator: Validator, *, limit: int = 32, delay: float = 0.0) -> int:
    """One pass: claim, validate concurrently, record. Returns how many were handled. `delay` is the
    client testing aid that makes validation slow on purpose."""
    work = await _claim(rt, limit)
    if not work:
        return 0
    if delay:
        await asyncio.sleep(delay)
    outcomes = await asyncio.gather(*(validator.validate(w.task) for w in work))
    for item, outcome in zip(work, outcomes, strict=True):
        await _record(rt, item, outcome)
    return len(work)


async def run_worker(rt: Runtime, validator: Validator, stop: asyncio.Event, *, delay: float = 0.0) -> None:
    """Validate until `stop` is set: woken at once by a local challenge POST, else polling the table
    (work queued by another process or left by a restart)."""
    worker = uuid.uuid4().hex[:8]
    log.info("validation worker %s started", worker)
    while not stop.is_set():
        try:
            handled = await validate_due(rt, validator, delay=delay)
        except OSError as exc:  # the database went away for a moment; keep the worker alive
            log.warning("validation worker %s: %s", worker, exc)
            handled = 0
        if handled:
            continue
        await rt.wait_for_validation_work(POLL_INTERVAL)


async def get_challenge(
    rt: Runtime, account: Account, challenge_id: str
) -> tuple[ChallengeRecord, AuthorizationRecord]:
    async with rt.storage.read() as tx:
        found = await tx.challenges.get_with_authorization(challenge_id)
    if found is None:
        raise NotFound("challenge", challenge_id)
    owned(found[1], account, found[1].id)
    return found
