"""Group commit for SQLite (issue 11 item 4): the write transactions of one process share physical
transactions, so throughput is bounded by fsyncs per second, not by transactions.

SQLite has one writer at a time, so the write transactions of a process already run one after
another on one connection. Here they also share COMMITs:
- a physical transaction (BEGIN IMMEDIATE) stays open while more writers are queued; each logical
  transaction after the first runs inside a SAVEPOINT, so one that raises rolls back only its own
  changes (the first one, with nothing before it, rolls back the physical transaction);
- the COMMIT is made by a flusher task queued on the same FIFO lock behind the writers that were
  waiting when the batch's first member finished: they all join the batch; writers that come later
  queue behind the flusher and form the next one;
- the COMMIT runs in a worker thread: its fsync no longer stalls the event loop (do_commit was
  12 % of the loop's busy samples);
- a logical transaction returns only after the COMMIT that contains it: what a client is told was
  stored is durable (synchronous=FULL), as before. When that COMMIT fails, every transaction of
  the batch raises its error.
Readers never see a logical transaction before its batch commits (WAL snapshots): to them it is
as if it had not run yet."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.engine import Connection, Engine, RootTransaction

from acme_server.errors import Unavailable
from acme_server.storage.base import LoopConnection

_BUSY_FIRST_WAIT = 0.001
_BUSY_LONGEST_WAIT = 0.05


class GroupCommitWriter:
    """The SQLite write side of Storage.transaction(): one connection on the loop thread, kept open."""

    def __init__(self, engine: Engine, *, busy_timeout: float) -> None:
        self._engine = engine
        self._busy_timeout = busy_timeout
        self._lock = asyncio.Lock()  # FIFO: the flusher commits after the writers queued before it
        self._connection: Connection | None = None
        self._root: RootTransaction | None = None
        self._members: list[asyncio.Future[None]] = []  # logical transactions awaiting the COMMIT
        self._flusher: asyncio.Task[None] | None = None
        self.commits = 0  # physical COMMITs made (the benchmark reports transactions per commit)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[LoopConnection]:
        """One logical write transaction; returns once the COMMIT holding it is durable."""
        async with self._lock:
            connection = await self._batch()
            # Straight to the driver: SQLAlchemy's savepoint bookkeeping cost 7 % of the loop's busy
            # samples, and nothing here needs it (one savepoint at a time, always closed below).
            driver = connection.connection.driver_connection if self._members else None
            if driver is not None:
                driver.execute("SAVEPOINT member")
            try:
                yield LoopConnection(connection)
            except BaseException:
                if driver is not None:
                    driver.execute("ROLLBACK TO member")
                    driver.execute("RELEASE member")
                else:
                    self._abort()
                raise
            finally:
                self._schedule_flush()
            if driver is not None:
                driver.execute("RELEASE member")  # its changes are now the batch's
            durable: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._members.append(durable)
        await durable

    async def _batch(self) -> Connection:
        """The connection inside the open physical transaction, beginning one if none is open."""
        if self._connection is None:
            self._connection = self._engine.connect()
        if self._root is None:
            self._root = await _begin_immediate(self._connection, self._busy_timeout)
        return self._connection

    def _abort(self) -> None:
        """The batch's first member raised: nothing else is in it; roll the physical one back."""
        if self._root is not None:
            root, self._root = self._root, None
            if root.is_active:
                root.rollback()

    def _schedule_flush(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        async with self._lock:
            self._flusher = None
            members, self._members = self._members, []
            root, self._root = self._root, None
            if not members:
                self._abort_root(root)
                return
            assert root is not None
            commit = asyncio.get_running_loop().run_in_executor(None, root.commit)
            error: BaseException | None = None
            try:
                # Shielded: the lock is held until the thread is done with the connection.
                await asyncio.shield(commit)
                self.commits += 1
            except asyncio.CancelledError:
                error = await _outcome(commit)
                raise
            except Exception as failure:
                error = failure
                self._discard_connection()
            finally:
                for member in members:
                    if member.done():
                        continue
                    if error is None:
                        member.set_result(None)
                    else:
                        member.set_exception(error)

    @staticmethod
    def _abort_root(root: RootTransaction | None) -> None:
        if root is not None and root.is_active:
            root.rollback()

    def _discard_connection(self) -> None:
        """After a failed COMMIT the connection's state is unknown: start over with a new one."""
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.invalidate()
            finally:
                connection.close()

    async def close(self) -> None:
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)
        async with self._lock:
            self._abort_root(self._root)
            self._root = None
            if self._connection is not None:
                self._connection.close()
                self._connection = None


async def _outcome(commit: asyncio.Future[None]) -> BaseException | None:
    """Wait out a commit whose waiter was cancelled; its error, if it failed."""
    try:
        await commit
    except Exception as error:
        return error
    return None


async def _begin_immediate(connection: Connection, busy_timeout: float) -> RootTransaction:
    """BEGIN IMMEDIATE on a SQLite loop writer (busy_timeout 0): while another process holds the
    write lock, wait with asyncio.sleep (the loop keeps serving) in growing steps, up to
    `busy_timeout` seconds; then Unavailable (503 + Retry-After), as the busy handler would."""
    deadline = time.monotonic() + busy_timeout
    wait = _BUSY_FIRST_WAIT
    while True:
        try:
            return connection.begin()
        except Unavailable:
            if connection.in_transaction():
                connection.rollback()
            if time.monotonic() + wait > deadline:
                raise
            await asyncio.sleep(wait)
            wait = min(wait * 2, _BUSY_LONGEST_WAIT)
