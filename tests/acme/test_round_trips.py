"""Designed for speed: the database work of each ACME request is counted — transactions and statements
— on the running server's storage: reads and statements with SQLAlchemy's engine events, write
transactions where they are asked for (Storage.transaction: on SQLite several share one physical
transaction, storage/group_commit.py, so the engine's BEGINs would undercount them). Only work done
by request tasks is counted (the validation worker, CRL updater and renewal scheduler run in tasks
of their own and are left out). A number here going up is a design change to justify, not a test
to loosen."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event

from acme_server.services.runtime import Runtime
from acme_server.storage import Tx
from ca_core.jose import b64encode
from tests.acme.client import csr_der
from tests.acme.conftest import AcmeServer, wait_status
from tests.acme.test_issuance_flow import _ready_order


@dataclass
class Work:
    transactions: int = 0
    statements: int = 0
    nonces: int = 0  # used nonces recorded (storage/nonce_store.py: no transaction, no fsync)
    counters: int = 0  # rate-limit counter statements (storage/rate_counters.py: beside the nonces)
    log: list[str] = field(default_factory=list, compare=False, repr=False)


# validation (its loop and each validation task), CRL updater, renewals, order recovery, sync pushes
BACKGROUND_LOOPS = (
    "run_worker",
    "_validate_one",
    "run_updater",
    "run_scheduler",
    "run_recovery",
    "run_push_worker",
)


def _from_a_request() -> bool:
    """True unless the statement runs in a background task: the validation worker, the renewal
    scheduler or the CRL updater (whose first passes at startup may overlap the first requests)."""
    task = asyncio.current_task()
    name = "" if task is None else task.get_coro().__qualname__  # type: ignore[union-attr]
    return name not in BACKGROUND_LOOPS


@contextmanager
def counted(acme: AcmeServer | Runtime) -> Iterator[Work]:
    """The work done by request tasks (not the background loops) on the server's or runtime's storage."""
    rt = acme if isinstance(acme, Runtime) else acme.rt
    storage = rt.storage
    _writer, reader = engines = list(storage.engines)
    work = Work()

    def counting(open_tx: Callable[[], AbstractAsyncContextManager[Tx]]) -> Callable[[], Any]:
        @asynccontextmanager
        async def counted_tx() -> AsyncIterator[Tx]:
            if _from_a_request():
                work.transactions += 1
            async with open_tx() as tx:
                yield tx

        return counted_tx

    def on_begin(*_: Any) -> None:
        if _from_a_request():
            work.transactions += 1

    def on_statement(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # SQLite's BEGIN (IMMEDIATE) is a driver statement there and not on PostgreSQL: the
        # transaction count covers it.
        if _from_a_request() and not statement.startswith("BEGIN"):
            work.statements += 1
            work.log.append(" ".join(statement.split())[:150])

    store = storage.nonces
    redeem = store.redeem

    async def counted_redeem(*args: Any, **kwargs: Any) -> Any:
        work.nonces += 1
        return await redeem(*args, **kwargs)

    event.listen(reader, "begin", on_begin)
    for engine in engines:
        event.listen(engine, "before_cursor_execute", on_statement)
    store.redeem = counted_redeem  # type: ignore[method-assign]
    counters = storage.rate_counters
    add, peek = counters.add, counters.peek

    async def counted_add(*args: Any, **kwargs: Any) -> Any:
        work.counters += 1
        return await add(*args, **kwargs)

    async def counted_peek(*args: Any, **kwargs: Any) -> Any:
        work.counters += 1
        return await peek(*args, **kwargs)

    counters.add = counted_add  # type: ignore[method-assign]
    counters.peek = counted_peek  # type: ignore[method-assign]
    storage.transaction = counting(storage.transaction)  # type: ignore[method-assign]
    if storage.dialect == "sqlite":
        # read_one runs in autocommit there, so no begin event: the statement is a transaction of its
        # own, as PostgreSQL's autocommit statement is (which announces a begin).
        storage.read_one = counting(storage.read_one)  # type: ignore[method-assign]
    try:
        yield work
    finally:
        del store.redeem  # type: ignore[method-assign]
        del counters.add, counters.peek  # type: ignore[method-assign]
        del storage.transaction  # type: ignore[method-assign]
        if storage.dialect == "sqlite":
            del storage.read_one  # type: ignore[method-assign]
        event.remove(reader, "begin", on_begin)
        for engine in engines:
            event.remove(engine, "before_cursor_execute", on_statement)


async def test_a_nonce_costs_no_database_work(acme: AcmeServer) -> None:
    client = await acme.client()
    with counted(acme) as work:
        await client.nonce()
    assert work == Work(0, 0)


async def test_an_account_post_as_get_is_one_transaction(acme: AcmeServer) -> None:
    client = await acme.client()
    await client.register()
    assert client.kid is not None
    nonce = await client.nonce()
    with counted(acme) as work:
        response = await client.post(client.kid, nonce=nonce)
    assert response.status_code == 200
    assert work == Work(transactions=1, statements=1, nonces=1)  # read the account, use the nonce


async def test_the_directory_reads_only_the_config_generation_when_cached(acme: AcmeServer) -> None:
    await acme.http.get(acme.directory_url)  # warms the catalog
    with counted(acme) as work:
        response = await acme.http.get(acme.directory_url)
    assert response.status_code == 200
    assert work == Work(transactions=1, statements=1)


async def test_new_order_round_trips(acme: AcmeServer) -> None:
    client = await acme.client()
    await client.register()
    await client.new_order("warm.example.internal")  # the catalog is loaded once per generation
    with counted(acme) as work:  # fetching the nonce inside costs nothing (see above)
        response = await client.new_order("budget.example.internal")
    assert response.status_code == 201
    # the account (and the nonce); then generation, reusable authorizations, and the inserts in one write
    # + the failed-validations check and the new-orders count, and the count of the account's pending
    # authorizations before a new one is stored (docs/security.md "Rate limits"); the authorizations
    # are not read back after their inserts
    assert work == Work(transactions=2, statements=8, nonces=1, counters=2), work.log


async def test_finalize_round_trips(acme: AcmeServer) -> None:
    client, order = await _ready_order(acme, "final.example.internal")
    csr = b64encode(csr_der("final.example.internal"))
    with counted(acme) as work:
        response = await client.post(order["finalize"], {"csr": csr})
    assert response.status_code == 200
    # account (and nonce); order+generation; ready -> processing; certificate stored and order valid together,
    # with the profile's syncs looked up in that same transaction (none here, so nothing is pushed)
    assert work == Work(transactions=4, statements=8, nonces=1), work.log


async def _reads(acme: AcmeServer) -> dict[str, Work]:
    """The work of each POST-as-GET read of an issued order's resources."""
    client, order = await _ready_order(acme, "reads.example.internal")
    await client.post(order["finalize"], {"csr": b64encode(csr_der("reads.example.internal"))})
    done = await wait_status(client, order["url"], {"valid"})
    authz_url = str(order["authorizations"][0])
    challenge_url = (await client.post(authz_url)).json()["challenges"][0]["url"]
    urls = {
        "order": order["url"],
        "authorization": authz_url,
        "challenge": challenge_url,
        "certificate": str(done["certificate"]),
    }
    measured = {}
    for name, url in urls.items():
        with counted(acme) as work:
            assert (await client.post(url)).status_code == 200
        measured[name] = work
    return measured


async def test_resource_reads_round_trips(acme: AcmeServer) -> None:
    # each: the account (and the nonce), then the resource; a certificate reads the config generation
    # (for alternate chains, served from the catalog) in the same read, and no metadata
    assert await _reads(acme) == {
        "order": Work(transactions=2, statements=2, nonces=1),
        "authorization": Work(transactions=2, statements=2, nonces=1),
        "challenge": Work(transactions=2, statements=2, nonces=1),
        "certificate": Work(transactions=2, statements=3, nonces=1),
    }
