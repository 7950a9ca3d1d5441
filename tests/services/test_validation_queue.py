"""The validation queue is rows, not process state: work queued before a restart is validated by the
next worker, and a claim left by a crashed worker is taken over after STALE_CLAIM, or at once by a
worker that started after it was made."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from acme_server.services.acme import accounts, challenges, orders
from acme_server.services.acme.accounts import NewAccount
from acme_server.services.acme.authorizations import parse_identifiers
from acme_server.services.acme.orders import NewOrder
from acme_server.services.ports import ValidationOutcome, ValidationTask
from acme_server.services.runtime import Runtime
from ca_core.jose import jwk_of
from ca_core.keys import KeyAlgorithm, generate_key
from tests.fakes import FixedClock, ScriptedValidator


async def _queued_challenge(rt: Runtime, name: str) -> tuple[accounts.Account, str, str]:
    """An account, an order for `name`, and its http-01 challenge answered (queued)."""
    jwk = jwk_of(generate_key(KeyAlgorithm.EC_prime256v1).public_key())
    account, _ = await accounts.new_account(
        rt, NewAccount(jwk, (), True, False, None, "https://x/acme/new-account"), eab_required=False
    )
    order = await orders.new_order(
        rt,
        account,
        NewOrder(parse_identifiers([{"type": "dns", "value": name}]), None, None, None, None),
        forced_profile=None,
    )
    async with rt.storage.read() as tx:
        (authorization,) = await tx.authorizations.get_many(list(order.record.authorization_ids))
    challenge = next(c for c in authorization.challenges if c.type == "http-01")
    await challenges.respond(rt, account, challenge.id)
    return account, order.record.id, challenge.id


async def test_work_queued_before_a_restart_is_validated_by_the_next_worker(dev: Runtime) -> None:
    account, order_id, _ = await _queued_challenge(dev, "restart.example.internal")
    validator = ScriptedValidator()  # a "new process": nothing in memory knows about the challenge
    assert await challenges.validate_due(dev, validator) == 1
    (task,) = validator.seen
    assert task.identifier_value == "restart.example.internal"
    assert task.key_authorization.endswith("." + account.jwk.thumbprint)  # RFC 8555 §8.1
    assert (await orders.get_order(dev, account, order_id)).status == "ready"
    assert await challenges.validate_due(dev, validator) == 0  # done once


async def test_a_crashed_workers_claim_is_taken_over_after_the_stale_period(dev: Runtime) -> None:
    account, _, challenge_id = await _queued_challenge(dev, "crash.example.internal")
    start = dev.clock.now()
    async with dev.storage.transaction() as tx:  # a worker claims it, then dies before recording
        assert (
            len(await tx.challenges.claim_due(now=start, stale_after=challenges.STALE_CLAIM, limit=10)) == 1
        )
    validator = ScriptedValidator()
    dev.clock = FixedClock(start + timedelta(seconds=30))
    assert await challenges.validate_due(dev, validator) == 0  # still someone else's
    dev.clock = FixedClock(start + challenges.STALE_CLAIM + timedelta(seconds=1))
    assert await challenges.validate_due(dev, validator) == 1
    record, _ = await challenges.get_challenge(dev, account, challenge_id)
    assert record.status == "valid"


async def test_a_claim_made_before_the_worker_started_is_taken_over_at_once(dev: Runtime) -> None:
    """A process SIGKILLed mid-validation leaves its claim; the restarted process's worker takes it
    over at its first pass instead of after STALE_CLAIM (bench/fault_injection.py saw every client
    of a run wait the two minutes)."""
    account, order_id, _ = await _queued_challenge(dev, "killed.example.internal")
    start = dev.clock.now()
    async with dev.storage.transaction() as tx:  # the killed process's claim
        assert (
            len(await tx.challenges.claim_due(now=start, stale_after=challenges.STALE_CLAIM, limit=10)) == 1
        )
    dev.clock = FixedClock(start + timedelta(seconds=2))  # restarted two seconds later
    validator = ScriptedValidator()
    stop = asyncio.Event()
    worker = asyncio.create_task(challenges.run_worker(dev, validator, stop))
    try:
        for _ in range(200):
            if (await orders.get_order(dev, account, order_id)).status == "ready":
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        dev.wake_validators()
        await asyncio.wait_for(worker, 30)
    assert (await orders.get_order(dev, account, order_id)).status == "ready"
    assert [task.identifier_value for task in validator.seen] == ["killed.example.internal"]


async def test_a_failed_validation_records_the_typed_error_and_invalidates_the_order(dev: Runtime) -> None:
    account, order_id, challenge_id = await _queued_challenge(dev, "fail.example.internal")
    validator = ScriptedValidator(
        {"fail.example.internal": ValidationOutcome(False, "connection", "connection refused")}
    )
    await challenges.validate_due(dev, validator)
    record, authorization = await challenges.get_challenge(dev, account, challenge_id)
    assert record.status == "invalid" and authorization.status == "invalid"
    assert record.error == {
        "type": "urn:ietf:params:acme:error:connection",
        "detail": "connection refused",
        "status": 400,
    }
    assert (await orders.get_order(dev, account, order_id)).status == "invalid"


class _GatedValidator(ScriptedValidator):
    """Holds the validation of `slow` until released; every other name answers at once."""

    def __init__(self, slow: str) -> None:
        super().__init__()
        self.slow, self.release = slow, asyncio.Event()

    async def validate(self, task: ValidationTask) -> ValidationOutcome:
        if task.identifier_value == self.slow:
            await self.release.wait()
        return await super().validate(task)


async def test_a_slow_validation_does_not_hold_back_the_others(dev: Runtime) -> None:
    """Each claimed challenge is validated and recorded on its own: a client whose server hangs (up
    to the validation timeout) does not delay the orders queued beside it or after it."""
    slow_account, slow_order, _ = await _queued_challenge(dev, "slow.example.internal")
    validator = _GatedValidator("slow.example.internal")
    stop = asyncio.Event()
    worker = asyncio.create_task(challenges.run_worker(dev, validator, stop))
    try:
        account, order_id, _ = await _queued_challenge(dev, "fast.example.internal")  # queued after
        for _ in range(200):
            if (await orders.get_order(dev, account, order_id)).status == "ready":
                break
            await asyncio.sleep(0.05)
        assert (await orders.get_order(dev, account, order_id)).status == "ready"
        assert (await orders.get_order(dev, slow_account, slow_order)).status == "pending"
        validator.release.set()
    finally:
        stop.set()
        dev.wake_validators()
        await asyncio.wait_for(worker, 30)  # a stopping worker lets running validations record
    assert (await orders.get_order(dev, slow_account, slow_order)).status == "ready"
