"""Group commit on SQLite (issue 11 item 4, storage/group_commit.py): concurrent write transactions of
a process share COMMITs; each is durable when it returns; one that raises takes only its own changes
back; a failed COMMIT fails every transaction in it and the writer goes on afterwards."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from acme_server.errors import Conflict
from acme_server.storage import Storage, Tx


@pytest.fixture
async def sqlite_storage(tmp_path: Path) -> AsyncIterator[Storage]:
    opened = await Storage.open(f"sqlite:///{tmp_path / 'ca.db'}")
    try:
        yield opened
    finally:
        await opened.close()


def _names(storage: Storage) -> set[str]:
    """What a separate connection (another process) sees committed."""
    database = storage.write_engine.url.database
    assert database is not None
    with sqlite3.connect(database) as connection:
        return {row[0] for row in connection.execute("SELECT name FROM policies")}


async def _create(storage: Storage, name: str, *, fail: bool = False) -> None:
    async with storage.transaction() as tx:
        await tx.policies.create(name=name, document={})
        await asyncio.sleep(0)  # let the other writers queue behind this one
        if fail:
            raise RuntimeError(f"{name} gave up")


async def test_concurrent_transactions_share_commits_and_each_is_durable_when_it_returns(
    sqlite_storage: Storage,
) -> None:
    before = sqlite_storage.sqlite_commits
    assert before is not None
    seen_when_returned: dict[str, bool] = {}

    async def create_and_look(name: str) -> None:
        await _create(sqlite_storage, name)
        seen_when_returned[name] = name in _names(sqlite_storage)

    await asyncio.gather(*(create_and_look(f"p{index}") for index in range(20)))

    assert _names(sqlite_storage) == {f"p{index}" for index in range(20)}
    assert all(seen_when_returned.values()), seen_when_returned
    commits = (sqlite_storage.sqlite_commits or 0) - before
    assert 1 <= commits < 20


async def test_a_transaction_that_raises_takes_back_only_its_own_changes(sqlite_storage: Storage) -> None:
    outcomes = await asyncio.gather(
        _create(sqlite_storage, "first"),
        _create(sqlite_storage, "broken", fail=True),
        _create(sqlite_storage, "third"),
        _create(sqlite_storage, "fourth", fail=True),
        return_exceptions=True,
    )

    assert [type(outcome).__name__ for outcome in outcomes] == [
        "NoneType",
        "RuntimeError",
        "NoneType",
        "RuntimeError",
    ]
    assert _names(sqlite_storage) == {"first", "third"}


async def test_a_conflict_in_one_transaction_leaves_the_others_of_its_batch(sqlite_storage: Storage) -> None:
    await _create(sqlite_storage, "taken")

    outcomes = await asyncio.gather(
        _create(sqlite_storage, "a"),
        _create(sqlite_storage, "taken"),
        _create(sqlite_storage, "b"),
        return_exceptions=True,
    )

    assert isinstance(outcomes[1], Conflict)
    assert outcomes[0] is None and outcomes[2] is None
    assert _names(sqlite_storage) == {"taken", "a", "b"}


async def _violate_at_commit(tx: Tx) -> None:
    """A foreign key broken with the check deferred: SQLite refuses it at COMMIT, not before."""
    connection = tx.policies._connection
    await connection.execute(text("PRAGMA defer_foreign_keys = ON"))
    await connection.execute(
        text(
            "INSERT INTO certificate_metadata (certificate_id, key, value) "
            "VALUES ('no-such-certificate', 'k', 'v')"
        )
    )


async def test_a_failed_commit_fails_every_transaction_in_it_and_the_writer_goes_on(
    sqlite_storage: Storage,
) -> None:
    async def breaks_the_commit() -> None:
        async with sqlite_storage.transaction() as tx:
            await _violate_at_commit(tx)
            await asyncio.sleep(0)

    outcomes = await asyncio.gather(
        breaks_the_commit(), _create(sqlite_storage, "innocent"), return_exceptions=True
    )

    assert all(isinstance(outcome, Exception) for outcome in outcomes), outcomes
    assert _names(sqlite_storage) == set()
    await _create(sqlite_storage, "after")
    assert _names(sqlite_storage) == {"after"}
