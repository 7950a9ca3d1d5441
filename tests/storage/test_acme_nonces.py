"""storage.nonces: a nonce is redeemed once (RFC 8555 §6.5); a replay is an answer, not an error that
would abort the request's PostgreSQL transaction; expired nonces are purged."""

from __future__ import annotations

from datetime import timedelta

from acme_server.storage import Storage
from tests.storage.acme_factories import counting, make_account
from tests.storage.factories import NOW

LATER = NOW + timedelta(minutes=10)


async def test_a_nonce_is_redeemed_once(storage: Storage) -> None:
    async with storage.transaction() as tx:
        assert await tx.nonces.redeem("n1", expires_at=LATER) is True
    async with storage.transaction() as tx:
        assert await tx.nonces.redeem("n1", expires_at=LATER) is False
        assert await tx.nonces.redeem("n2", expires_at=LATER) is True


async def test_a_replay_leaves_the_transaction_usable(storage: Storage) -> None:
    async with storage.transaction() as tx:
        assert await tx.nonces.redeem("n1", expires_at=LATER) is True
        assert await tx.nonces.redeem("n1", expires_at=LATER) is False
        account = await make_account(tx)  # on PostgreSQL an aborted transaction would refuse this
    async with storage.read() as tx:
        assert await tx.accounts.get(account.id) == account


async def test_redeem_is_one_statement(storage: Storage) -> None:
    with counting(storage) as counter:
        async with storage.transaction() as tx:
            counter.reset()
            await tx.nonces.redeem("n1", expires_at=LATER)
            await tx.nonces.redeem("n1", expires_at=LATER)
            assert counter.count == 2


async def test_purge_forgets_expired_nonces_only(storage: Storage) -> None:
    async with storage.transaction() as tx:
        assert await tx.nonces.redeem("old", expires_at=NOW - timedelta(seconds=1))
        assert await tx.nonces.redeem("edge", expires_at=NOW)
        assert await tx.nonces.redeem("live", expires_at=LATER)
    async with storage.transaction() as tx:
        assert await tx.nonces.purge_expired(NOW) == 2
        assert await tx.nonces.purge_expired(NOW) == 0
        assert await tx.nonces.redeem("live", expires_at=LATER) is False
