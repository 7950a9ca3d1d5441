"""PostgreSQL connections kept between transactions, with the transaction run on asyncpg itself.

Through SQLAlchemy's async engine a one-statement transaction made five greenlet hops around its one
statement (pool checkout, BEGIN, COMMIT, check-in with its reset, and the isolation switch of an
autocommit read), each costing more CPU than the statement (bench/storage_path.py). Here a process
keeps a few connections checked out of the engine's pool in SQLAlchemy's AUTOCOMMIT mode (so
SQLAlchemy never begins or commits on them) and runs each transaction as an asyncpg transaction it
hands to SQLAlchemy's adapter (the adapter's `_transaction`), so that every statement of the block,
ours on the driver (storage/prepared.py) and SQLAlchemy's alike, runs inside it.

A kept connection the server closed is dropped at the next checkout (what the pool's checkout test,
engine._discard_closed, does); a connection whose transaction failed to end cleanly is invalidated,
never kept. SQLAlchemy's `begin` event still fires (tests count transactions with it)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from acme_server.storage.prepared import translate_driver_error


class KeptConnections:
    """Up to `keep` idle AUTOCOMMIT connections of one engine, and transactions over them."""

    def __init__(self, engine: AsyncEngine, *, keep: int, isolation: str | None, readonly: bool) -> None:
        self._engine = engine
        self._keep = keep
        self._isolation = isolation  # asyncpg's names: "repeatable_read", None for the server default
        self._readonly = readonly
        self._idle: list[AsyncConnection] = []

    async def _checkout(self) -> AsyncConnection:
        while self._idle:
            connection = self._idle.pop()
            if not _closed(connection):
                return connection
            await connection.invalidate()
        connection = await self._engine.connect()
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        return connection

    async def _checkin(self, connection: AsyncConnection) -> None:
        if len(self._idle) < self._keep:
            self._idle.append(connection)
        else:
            await connection.close()

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A kept connection with no transaction: each statement commits on its own."""
        connection = await self._checkout()
        _announce_begin(connection)  # an autocommit statement is a transaction of its own
        try:
            yield connection
        except BaseException:
            await connection.close()
            raise
        await self._checkin(connection)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A kept connection inside one transaction: committed when the block ends, rolled back when
        it raises."""
        connection = await self._checkout()
        sync = connection.sync_connection
        assert sync is not None
        adapter: Any = sync.connection.dbapi_connection
        _announce_begin(connection)
        transaction = adapter._connection.transaction(isolation=self._isolation, readonly=self._readonly)
        try:
            await transaction.start()
        except Exception as error:
            await connection.invalidate()
            await connection.close()
            raise translate_driver_error(sync, adapter, "BEGIN", error) from error
        adapter._transaction = transaction
        try:
            yield connection
        except BaseException:
            adapter._transaction = None
            await _end(connection, transaction)
            raise
        adapter._transaction = None
        try:
            await transaction.commit()
        except Exception as error:  # a deferred constraint, a lost connection
            await _end(connection, transaction)
            raise translate_driver_error(sync, adapter, "COMMIT", error) from error
        await self._checkin(connection)

    async def close(self) -> None:
        while self._idle:
            await self._idle.pop().close()


async def _end(connection: AsyncConnection, transaction: Any) -> None:
    """After a failure: roll back if the transaction is still open and give the connection back to the
    pool; when that fails too, the connection's state is unknown, so it is invalidated."""
    try:
        await transaction.rollback()
    except Exception:  # already ended by the server (a failed COMMIT) or the connection is gone
        with contextlib.suppress(Exception):
            await connection.invalidate()
    await connection.close()


def _announce_begin(connection: AsyncConnection) -> None:
    """SQLAlchemy's `begin` event, which its own BEGIN would have fired."""
    sync = connection.sync_connection
    if sync is not None and sync.dispatch.begin:
        sync.dispatch.begin(sync)


def _closed(connection: AsyncConnection) -> bool:
    sync = connection.sync_connection
    if sync is None or sync.closed:
        return True
    driver: Any = sync.connection.driver_connection
    return bool(driver.is_closed())
