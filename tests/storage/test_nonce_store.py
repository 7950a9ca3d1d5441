"""storage.nonces (storage/nonce_store.py): a used nonce is recorded once, where a write is cheap, and
shared by every process on the database (RFC 8555 §6.5: a nonce is single-use across replicas); on
PostgreSQL an UNLOGGED table whose emptying by a crash refuses every nonce issued before it; on SQLite
a file of its own with synchronous = OFF, never behind the main database's writer lock."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from acme_server.storage import Redeemed, Storage
from acme_server.storage import nonce_store as nonce_store_module
from acme_server.storage.nonce_store import SqliteNonceStore
from tests.storage.acme_factories import counting

ISSUED = datetime.now(UTC)
LATER = ISSUED + timedelta(minutes=10)


async def _redeem(storage: Storage, nonce: str, issued: datetime = ISSUED) -> Redeemed:
    return await storage.nonces.redeem(nonce, issued_at=issued, expires_at=issued + timedelta(hours=1))


async def test_s6_5_a_nonce_is_redeemed_once(storage: Storage) -> None:
    assert await _redeem(storage, "n1") is Redeemed.FIRST_USE
    assert await _redeem(storage, "n1") is Redeemed.REPLAY
    assert await _redeem(storage, "n2") is Redeemed.FIRST_USE


async def test_s6_5_a_nonce_used_in_one_process_is_used_in_every_other(database_url: str) -> None:
    """Two Storage objects on one database stand for two workers or replicas."""
    first, second = await Storage.open(database_url), await Storage.open(database_url)
    try:
        assert await _redeem(first, "shared") is Redeemed.FIRST_USE
        assert await _redeem(second, "shared") is Redeemed.REPLAY
        assert await _redeem(second, "other") is Redeemed.FIRST_USE
        assert await _redeem(first, "other") is Redeemed.REPLAY
    finally:
        await first.close()
        await second.close()


async def test_redeeming_a_nonce_is_no_statement_of_a_storage_transaction(storage: Storage) -> None:
    with counting(storage) as counter:
        counter.reset()
        await _redeem(storage, "n1")
        await _redeem(storage, "n1")
        assert counter.count == 0


async def test_expired_nonces_are_purged(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    past = datetime.now(UTC) - timedelta(hours=2)
    assert await _redeem(storage, "old", issued=past) is Redeemed.FIRST_USE  # expired an hour ago
    monkeypatch.setattr(nonce_store_module, "PURGE_EVERY", 0.0)
    storage.nonces._next_purge = 0.0  # type: ignore[union-attr]
    assert await _redeem(storage, "live") is Redeemed.FIRST_USE  # a redeem purges, now and then
    assert await _redeem(storage, "live") is Redeemed.REPLAY
    assert await _redeem(storage, "old", issued=past) is Redeemed.FIRST_USE  # forgotten (the MAC's
    # expiry refuses it long before it reaches the store)


@pytest.mark.parametrize("database_engine", ["sqlite"], indirect=True)
async def test_sqlite_keeps_used_nonces_in_a_file_of_their_own_without_fsync(database_url: str) -> None:
    storage = await Storage.open(database_url)
    try:
        assert isinstance(storage.nonces, SqliteNonceStore)
        assert storage.nonces.path == database_url.removeprefix("sqlite:///") + "-nonces"
        await _redeem(storage, "n1")
        assert storage.nonces._connection.execute("PRAGMA synchronous").fetchone() == (0,)
        assert storage.nonces._connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        # a writer holding the main database's lock does not delay it
        holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            assert await _redeem(storage, "n2") is Redeemed.FIRST_USE
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    finally:
        await storage.close()


@pytest.mark.postgres
@pytest.mark.parametrize("database_engine", ["postgresql"], indirect=True)
async def test_postgresql_used_nonces_are_unlogged_and_a_crash_refuses_older_nonces(
    database_url: str,
) -> None:
    storage = await Storage.open(database_url)
    connection = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        persistence = await connection.fetchval(
            "SELECT relpersistence FROM pg_class WHERE relname = 'acme_nonces'"
        )
        assert persistence == b"u"  # UNLOGGED: no WAL, no fsync for a used nonce
        before_crash = datetime.now(UTC) - timedelta(seconds=1)
        assert await _redeem(storage, "n1", issued=before_crash) is Redeemed.FIRST_USE
        # What crash recovery does to an UNLOGGED table: it comes back empty, guard row included.
        await connection.execute("TRUNCATE acme_nonces")
        assert await _redeem(storage, "n1", issued=before_crash) is Redeemed.ISSUED_BEFORE_RESET
        assert await _redeem(storage, "n2", issued=before_crash) is Redeemed.ISSUED_BEFORE_RESET
        after = datetime.now(UTC) + timedelta(milliseconds=5)
        assert await _redeem(storage, "n3", issued=after) is Redeemed.FIRST_USE
        assert await _redeem(storage, "n3", issued=after) is Redeemed.REPLAY
    finally:
        await connection.close()
        await storage.close()
