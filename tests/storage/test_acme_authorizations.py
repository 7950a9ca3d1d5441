"""storage.authorizations: authorizations and challenges created in batches and read back together in
one query; reuse lookup; conditional transitions; the validation worker's claims never overlap."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from acme_server.errors import Conflict
from acme_server.storage import ChallengeRecord, Storage
from tests.storage.acme_factories import counting, make_account, make_authorizations, new_authorization
from tests.storage.factories import NOW

STALE = timedelta(minutes=5)
PROBLEM = {"type": "urn:ietf:params:acme:error:connection", "detail": "connection refused"}


async def test_authorizations_read_back_as_created(storage: Storage) -> None:
    async with storage.transaction() as tx:
        account = await make_account(tx)
        created = await tx.authorizations.create_many(
            [
                new_authorization(account.id, "a.example"),
                new_authorization(account.id, "b.example", wildcard=True, challenges=(("dns-01", "t"),)),
                new_authorization(account.id, "192.0.2.1", identifier_type="ip", challenges=()),
                new_authorization(account.id, "c.example", status="valid", pre_authorized=True),
            ]
        )
    assert [a.identifier_value for a in created] == ["a.example", "b.example", "192.0.2.1", "c.example"]
    first = created[0]
    assert [c.type for c in first.challenges] == ["dns-01", "http-01", "tls-alpn-01"]
    assert {c.status for c in first.challenges} == {"pending"}
    assert {c.authorization_id for c in first.challenges} == {first.id}
    assert first.challenges[0].attempts == 0
    assert created[2].challenges == ()
    async with storage.read() as tx:
        for authorization in created:
            assert await tx.authorizations.get(authorization.id) == authorization
        assert await tx.authorizations.get("no-such-authorization") is None


async def test_create_many_is_two_statements(storage: Storage) -> None:
    async with storage.transaction() as tx:
        account = await make_account(tx)
    with counting(storage) as counter:
        async with storage.transaction() as tx:
            counter.reset()
            await make_authorizations(tx, account.id, *(f"{i}.example" for i in range(20)))
            assert counter.count == 2
            assert await tx.authorizations.create_many([]) == []
            assert counter.count == 2


async def test_a_second_challenge_of_one_type_is_a_conflict(storage: Storage) -> None:
    async with storage.transaction() as tx:
        account = await make_account(tx)
    with pytest.raises(Conflict):
        async with storage.transaction() as tx:
            await tx.authorizations.create_many(
                [new_authorization(account.id, challenges=(("http-01", "a"), ("http-01", "b")))]
            )


async def test_get_many_keeps_the_given_order_in_one_query(storage: Storage) -> None:
    async with storage.transaction() as tx:
        account = await make_account(tx)
        created = await make_authorizations(tx, account.id, *(f"{i}.example" for i in range(20)))
    wanted = [a.id for a in reversed(created)]
    with counting(storage) as counter:
        async with storage.read() as tx:
            counter.reset()
            found = await tx.authorizations.get_many([*wanted, "missing"])
            assert counter.count <= 2
            counter.reset()
            assert await tx.authorizations.get_many([]) == []
            assert counter.count == 0
            counter.reset()
            assert await tx.authorizations.get(created[0].id) == created[0]
            assert counter.count == 1
    assert found == list(reversed(created))


async def test_find_reusable_prefers_valid_then_newest(storage: Storage) -> None:
    valid_after = NOW + timedelta(days=1)
    async with storage.transaction() as tx:
        account = await make_account(tx)
        other = await make_account(tx)
        refused = ("invalid", "deactivated", "expired", "revoked")
        await tx.authorizations.create_many(
            [new_authorization(account.id, status=status) for status in refused]
            + [
                new_authorization(account.id, status="valid", expires_at=valid_after),  # expires too soon
                new_authorization(account.id, status="valid", wildcard=True),
                new_authorization(account.id, "b.example", status="valid"),
                new_authorization(other.id, status="valid"),
            ]
        )
        find = tx.authorizations.find_reusable
        assert await find(account.id, "dns", "a.example", False, valid_after=valid_after) is None
        (older,) = await tx.authorizations.create_many([new_authorization(account.id)])
        (pending,) = await tx.authorizations.create_many([new_authorization(account.id)])
        found = await find(account.id, "dns", "a.example", False, valid_after=valid_after)
        assert found is not None
        assert found.id == max((older, pending), key=lambda a: (a.created_at, a.id)).id
        (valid,) = await tx.authorizations.create_many(
            [new_authorization(account.id, status="valid", pre_authorized=True)]
        )
        found = await find(account.id, "dns", "a.example", False, valid_after=valid_after)
        assert found == valid
        found = await find(account.id, "dns", "a.example", True, valid_after=valid_after)
        assert found is not None
        assert found.wildcard


async def test_authorization_transitions_are_conditional(storage: Storage) -> None:
    async with storage.transaction() as tx:
        account = await make_account(tx)
        first, second, third = await make_authorizations(
            tx, account.id, "a.example", "b.example", "c.example"
        )
        set_status = tx.authorizations.set_status
        assert await set_status(first.id, "valid", expected="pending") is True
        assert await set_status(first.id, "invalid", expected="pending") is False
        assert await set_status(second.id, "invalid", expected=("pending", "valid")) is True
        assert await tx.authorizations.deactivate(first.id) is True  # from valid
        assert await tx.authorizations.deactivate(third.id) is True  # from pending
        assert await tx.authorizations.deactivate(third.id) is False
        assert await tx.authorizations.deactivate(second.id) is False  # invalid stays invalid
        statuses = [a.status for a in await tx.authorizations.get_many([first.id, second.id, third.id])]
    assert statuses == ["deactivated", "invalid", "deactivated"]


async def test_a_challenge_with_its_authorization(storage: Storage) -> None:
    async with storage.transaction() as tx:
        account = await make_account(tx)
        (authorization,) = await make_authorizations(tx, account.id, "a.example")
    challenge = authorization.challenges[1]
    with counting(storage) as counter:
        async with storage.read() as tx:
            assert await tx.challenges.get(challenge.id) == challenge
            assert await tx.challenges.get("no-such-challenge") is None
            counter.reset()
            assert await tx.challenges.get_with_authorization(challenge.id) == (challenge, authorization)
            assert counter.count == 1
            assert await tx.challenges.get_with_authorization("no-such-challenge") is None


async def _respond(storage: Storage, count: int) -> list[ChallengeRecord]:
    """`count` challenges the client responded to, queued for the worker."""
    async with storage.transaction() as tx:
        account = await make_account(tx)
        created = await make_authorizations(tx, account.id, *(f"{i}.example" for i in range(count)))
        challenges = [a.challenges[0] for a in created]
        for challenge in challenges:
            assert await tx.challenges.begin_processing(challenge.id) is True
    return challenges


async def _claim(storage: Storage, now: datetime = NOW, limit: int = 10) -> list[ChallengeRecord]:
    async with storage.transaction() as tx:
        return await tx.challenges.claim_due(now=now, stale_after=STALE, limit=limit)


async def test_a_challenge_is_queued_once(storage: Storage) -> None:
    (challenge,) = await _respond(storage, 1)
    async with storage.transaction() as tx:
        assert await tx.challenges.begin_processing(challenge.id) is False
        found = await tx.challenges.get(challenge.id)
    assert found is not None
    assert (found.status, found.processing_started_at, found.attempts) == ("processing", None, 0)


async def test_claim_due_takes_queued_challenges_once(storage: Storage) -> None:
    challenges = await _respond(storage, 3)
    async with storage.transaction() as tx:
        await tx.challenges.begin_processing(challenges[0].authorization_id)  # not a challenge id: no-op
    first = await _claim(storage, limit=2)
    second = await _claim(storage, limit=2)
    assert len(first) == 2
    assert len(second) == 1
    assert {c.id for c in first + second} == {c.id for c in challenges}
    assert all((c.processing_started_at, c.attempts) == (NOW, 1) for c in first + second)
    assert await _claim(storage, NOW + STALE) == []  # claimed exactly STALE ago: not stale yet


async def test_a_stale_claim_is_taken_over(storage: Storage) -> None:
    (challenge,) = await _respond(storage, 1)
    assert [c.id for c in await _claim(storage)] == [challenge.id]
    later = NOW + STALE + timedelta(microseconds=1)
    (again,) = await _claim(storage, later)
    assert (again.id, again.processing_started_at, again.attempts) == (challenge.id, later, 2)


async def test_pending_and_finished_challenges_are_never_claimed(storage: Storage) -> None:
    async with storage.transaction() as tx:
        account = await make_account(tx)
        await make_authorizations(tx, account.id, "a.example")
    assert await _claim(storage) == []
    (challenge,) = await _respond(storage, 1)
    await _claim(storage)
    async with storage.transaction() as tx:
        assert await tx.challenges.complete(challenge.id, status="valid", validated_at=NOW, error=None)
    assert await _claim(storage, NOW + timedelta(days=1)) == []


async def test_concurrent_claimers_never_share_a_challenge(storage: Storage, database_url: str) -> None:
    challenges = await _respond(storage, 30)
    other = await Storage.open(database_url)
    pools = (storage, other)

    async def worker(index: int) -> list[str]:
        claimed: list[str] = []
        while batch := await _claim(pools[index % 2], limit=3):
            assert len(batch) <= 3
            claimed.extend(c.id for c in batch)
        return claimed

    try:
        results = await asyncio.wait_for(asyncio.gather(*(worker(i) for i in range(6))), 60)
    finally:
        await other.close()
    claimed = [challenge_id for result in results for challenge_id in result]
    assert sorted(claimed) == sorted(c.id for c in challenges)


async def test_complete_only_from_processing(storage: Storage) -> None:
    async with storage.transaction() as tx:
        account = await make_account(tx)
        (authorization,) = await make_authorizations(tx, account.id, "a.example")
    pending, processing = authorization.challenges[0], authorization.challenges[1]
    async with storage.transaction() as tx:
        complete = tx.challenges.complete
        assert await complete(pending.id, status="valid", validated_at=NOW, error=None) is False
        assert await tx.challenges.begin_processing(processing.id)
        assert await complete(processing.id, status="invalid", validated_at=None, error=PROBLEM) is True
        assert await complete(processing.id, status="valid", validated_at=NOW, error=None) is False
        found = await tx.challenges.get(processing.id)
    assert found is not None
    assert (found.status, found.validated_at, found.error) == ("invalid", None, PROBLEM)
