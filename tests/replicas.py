"""Two `acme-server serve` replicas on one PostgreSQL database behind the conformance suite's
round-robin balancer (conformance/servers.py start_ours, docs/conformance.md "Replicas"), for tests
that race the replicas against each other: each replica's own HTTPS and status URLs, an in-test
Runtime on the same database (sealed with the replicas' KEK) and a raw engine for assertions."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from acme_server.services.runtime import Runtime
from acme_server.storage import Storage
from acme_server.storage.engine import normalize_url
from ca_core.keyprotect import KeyEncryptionKey
from conformance.servers import LOOPBACK, ChallTestSrv, OurTarget, Process, session_database, start_ours
from tests.acme.client import Client
from tests.tools import require_tool


def _flag(process: Process, name: str) -> str:
    return process.argv[process.argv.index(name) + 1]


@dataclass
class Replicas:
    target: OurTarget
    database_url: str
    engine: AsyncEngine  # for the test's own queries
    rt: Runtime  # services on the replicas' database, in the test process
    base_urls: list[str]  # each replica's own https://127.0.0.1:PORT
    status_urls: list[str]  # each replica's plain-HTTP status listener

    @property
    def public_url(self) -> str:
        """The balancer's base URL: what every replica's links (and JWS url headers) name."""
        return self.target.base_url

    def direct(self, url: str, replica: int) -> str:
        """`url` (a balancer URL) sent straight to one replica."""
        return self.base_urls[replica] + url.removeprefix(self.public_url)

    async def rows(self, sql: str, **params: object) -> list[tuple[object, ...]]:
        async with self.engine.connect() as connection:
            return [tuple(row) for row in (await connection.execute(text(sql), params)).all()]


@asynccontextmanager
async def two_replicas(
    workdir: Path, admin_url: str, environment: Mapping[str, str] | None = None
) -> AsyncIterator[Replicas]:
    """Two replicas on a fresh PostgreSQL database (dropped after), pebble-challtestsrv as their DNS.
    The processes start and stop in a thread: those helpers block (and run event loops of their own)."""
    require_tool("pebble-challtestsrv")
    stack = contextlib.ExitStack()

    def start() -> tuple[OurTarget, str]:
        challtestsrv = ChallTestSrv(workdir)
        stack.callback(challtestsrv.stop)
        database_url = stack.enter_context(session_database(admin_url))
        assert database_url is not None
        target = start_ours(
            workdir / "ours", challtestsrv, database_url=database_url, workers=1, replicas=2,
            environment=environment,
        )  # fmt: skip
        stack.callback(target.stop)
        return target, database_url

    try:
        target, database_url = await asyncio.to_thread(start)
        assert target.balancer is not None and target.kek is not None
        engine = create_async_engine(normalize_url(database_url))
        storage = await Storage.open(database_url)
        try:
            rt = Runtime(
                storage=storage,
                kek=KeyEncryptionKey.from_text(target.kek),
                public_url=target.base_url,
                status_url=f"http://{_flag(target.process, '--status-listen')}",
            )
            processes = [target.process, *target.replicas]
            yield Replicas(
                target,
                database_url,
                engine,
                rt,
                [f"https://{LOOPBACK}:{port}" for port in target.balancer.upstreams],
                [f"http://{_flag(process, '--status-listen')}" for process in processes],
            )
        finally:
            await storage.close()
            await engine.dispose()
    finally:
        await asyncio.to_thread(stack.close)


async def ready_orders(replicas: Replicas, client: Client, names: list[str]) -> list[dict[str, Any]]:
    """One order per name made through the balancer, then made ready in the database (the VA is not
    under test); each order's JSON with its `url`."""
    orders = []
    for name in names:
        created = await client.new_order(name)
        assert created.status_code == 201, created.text
        orders.append(created.json() | {"url": created.headers["Location"]})
    ids = [order["url"].rsplit("/", 1)[1] for order in orders]
    async with replicas.engine.begin() as connection:
        for order_id in ids:
            await connection.execute(
                text(
                    "UPDATE acme_authorizations SET status = 'valid' WHERE id IN"
                    " (SELECT authorization_id FROM acme_order_authorizations WHERE order_id = :id)"
                ),
                {"id": order_id},
            )
            await connection.execute(
                text("UPDATE acme_orders SET status = 'ready' WHERE id = :id"), {"id": order_id}
            )
    return orders


async def poll_valid(client: Client, order_url: str) -> dict[str, Any]:
    """POST-as-GET the order until it is no longer processing (a finalize in flight elsewhere)."""
    for _ in range(300):
        order: dict[str, Any] = (await client.post(order_url)).json()
        if order["status"] != "processing":
            return order
        await asyncio.sleep(0.1)
    raise AssertionError(f"order {order_url} still processing after 30 s")
