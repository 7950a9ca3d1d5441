"""Issue 10 part 2, overload (acme/in_flight.py, docs/security.md "Overload"): with every place of the
in-flight bound taken by a request held on a database lock, the next ACME request is answered at once
with 503 `serverInternal`, Retry-After and a usable Replay-Nonce, while the directory and newNonce stay
served; once the lock is let go the held request completes and the refused one passes on retry. The
refusal comes back while the database is still locked, so it did no work there. Deterministic: with
one place and the lock held, of two newAccount requests exactly one can be answered before the lock
is released, whichever arrives first."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from acme_server.acme.in_flight import RETRY_AFTER
from acme_server.storage.engine import normalize_url
from tests.acme.conftest import AcmeServer

ERR = "urn:ietf:params:acme:error:"


@asynccontextmanager
async def accounts_locked(database_url: str) -> AsyncIterator[None]:
    """Another process's lock that newAccount waits on: on PostgreSQL an ACCESS EXCLUSIVE lock on
    acme_accounts (its lookup by key waits), on SQLite the write lock (its insert waits, up to the
    busy timeout of 30 s). Taken off the event loop the server runs on."""
    url = normalize_url(database_url)
    if url.startswith("sqlite"):
        path = make_url(url).database
        assert path is not None
        holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        await asyncio.to_thread(holder.execute, "BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            transaction = await connection.begin()
            await connection.exec_driver_sql("LOCK TABLE acme_accounts IN ACCESS EXCLUSIVE MODE")
            try:
                yield
            finally:
                await transaction.rollback()
    finally:
        await engine.dispose()


async def first_done(
    requests: list[Callable[[], Awaitable[httpx.Response]]],
) -> tuple[httpx.Response, asyncio.Task[httpx.Response]]:
    """Send all at once; the first answer, and the request still in flight."""
    tasks = [asyncio.ensure_future(request()) for request in requests]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    assert len(done) == 1 and len(pending) == 1, [t.result().text for t in done]
    return done.pop().result(), pending.pop()


@pytest.mark.parametrize("acme_overrides", [{"max_in_flight": 1}])
async def test_a_request_past_the_in_flight_bound_is_503_at_once_with_retry_after_and_a_nonce(
    acme: AcmeServer, database_url: str
) -> None:
    clients = [await acme.client(), await acme.client()]
    async with accounts_locked(database_url):
        refused, held = await first_done([client.register for client in clients])
        assert refused.status_code == 503
        body = refused.json()
        # A 5xx problem carries the request id (docs/operations.md), the same as the response header.
        assert body.pop("requestId") == refused.headers["x-request-id"]
        assert body == {
            "type": ERR + "serverInternal",
            "detail": f"the server is overloaded: 1 requests are in flight; retry after {RETRY_AFTER} s",
            "status": 503,
        }
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["retry-after"] == str(RETRY_AFTER)
        assert refused.headers["link"] == f'<{acme.directory_url}>;rel="index"'
        nonce = refused.headers["replay-nonce"]
        # The directory and newNonce are not bounded: a refused client can always start over.
        assert (await acme.http.get(acme.directory_url)).status_code == 200
        assert (await acme.http.head(clients[0].directory["newNonce"])).status_code == 200
        assert not held.done()

    assert (await held).status_code == 201
    loser = next(c for c in clients if c.kid is None)
    retried = await loser.post(
        loser.directory["newAccount"], {"termsOfServiceAgreed": True}, use_jwk=True, nonce=nonce
    )
    assert retried.status_code == 201, retried.text  # the refusal's nonce is good for the retry


@pytest.mark.parametrize("acme_overrides", [{"max_in_flight": 0}])
async def test_max_in_flight_0_is_no_bound(acme: AcmeServer, database_url: str) -> None:
    clients = [await acme.client(), await acme.client()]
    async with accounts_locked(database_url):
        tasks = [asyncio.ensure_future(client.register()) for client in clients]
        assert (await acme.http.get(acme.directory_url)).status_code == 200
        assert not any(task.done() for task in tasks)  # both wait on the lock, neither refused
    assert [(await task).status_code for task in tasks] == [201, 201]
