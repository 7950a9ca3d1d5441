"""Issue 10, defect 2: no order stays `processing` for ever. A real `acme-server serve` process is
killed (SIGKILL) with finalize requests in flight; after a restart, recovery fails every order left
processing once the processing lease ran out, with a serverInternal problem on the order (RFC 8555
§7.1.6: processing -> invalid). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from acme_server.storage.engine import normalize_url
from acme_server.storage.tables import acme_orders
from ca_core.jose import b64encode
from tests.acme.client import Client, csr_der
from tests.acme.conftest import AcmeServer
from tests.acme.test_issuance_flow import _issue, _ready_order
from tests.test_serve import Server, trust

ERR = "urn:ietf:params:acme:error:"
ORDERS = 12  # finalize requests in flight at the kill
LEASE = "1"  # seconds, for the restarted server (ACME_SERVER_PROCESSING_LEASE)


async def _statuses(engine: AsyncEngine, ids: list[str]) -> dict[str, str]:
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT id, status FROM acme_orders"))).all()
    return {row[0]: row[1] for row in rows if row[0] in ids}


async def _ready_orders(client: Client, engine: AsyncEngine, count: int) -> list[tuple[str, str]]:
    """`count` orders made over ACME, then made ready in the database (the VA is not under test)."""
    orders = []
    for index in range(count):
        created = await client.new_order(f"stuck-{index}.example.internal")
        assert created.status_code == 201
        orders.append((created.headers["Location"], f"stuck-{index}.example.internal"))
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE acme_authorizations SET status = 'valid'"))
        await connection.execute(text("UPDATE acme_orders SET status = 'ready' WHERE status = 'pending'"))
    return orders


async def _kill_during_finalize(server: Server, engine: AsyncEngine) -> list[str]:
    """Finalize every order at once and SIGKILL the server as soon as one is processing; the ids of
    the orders the kill left processing."""
    async with httpx.AsyncClient(verify=trust(server.data_dir), timeout=30) as http:
        client = await Client(http, f"{server.url}/acme/directory").load()
        assert (await client.register()).status_code == 201
        orders = await _ready_orders(client, engine, ORDERS)
        ids = [url.rsplit("/", 1)[1] for url, _ in orders]
        # Sign every request first, so the requests reach the server together.
        bodies = [(f"{url}/finalize", {"csr": b64encode(csr_der(name))}) for url, name in orders]
        tasks = [asyncio.create_task(client.post(url, body)) for url, body in bodies]
        deadline = time.monotonic() + 30
        while "processing" not in (await _statuses(engine, ids)).values():
            assert time.monotonic() < deadline, "no finalize reached processing"
            await asyncio.sleep(0.001)
        server.process.kill()
        server.process.wait()
        for task in tasks:
            with contextlib.suppress(httpx.HTTPError):
                await task
    return [order_id for order_id, status in (await _statuses(engine, ids)).items() if status == "processing"]


async def test_issue10_2_finalize_cut_short_by_sigkill_is_failed_after_the_lease(
    database_url: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    engine = create_async_engine(normalize_url(database_url))
    try:
        stuck: list[str] = []
        for _ in range(5):  # the kill may land between two finalizes; then try again with new orders
            stuck = await _kill_during_finalize(Server(data_dir, "--database", database_url), engine)
            if stuck:
                break
        assert stuck, "every kill missed the processing window"
        restarted = Server(
            data_dir, "--database", database_url, environment={"ACME_SERVER_PROCESSING_LEASE": LEASE}
        )
        try:
            deadline = time.monotonic() + 10
            while "processing" in (await _statuses(engine, stuck)).values():
                assert time.monotonic() < deadline, "orders still processing after the lease"
                await asyncio.sleep(0.1)
            async with engine.connect() as connection:
                rows = (
                    await connection.execute(
                        text("SELECT status, error FROM acme_orders WHERE status = 'processing'")
                    )
                ).all()
                assert rows == []  # no order at all stays processing
                for order_id in stuck:
                    row = (
                        await connection.execute(
                            text("SELECT status, error FROM acme_orders WHERE id = :id"), {"id": order_id}
                        )
                    ).one()
                    error = row[1] if isinstance(row[1], dict) else json.loads(row[1])
                    assert row[0] == "invalid"
                    assert error["type"] == ERR + "serverInternal" and error["status"] == 500
        finally:
            restarted.stop()
    finally:
        await engine.dispose()


# --- in-process: the same server code over loopback, one test per regression


async def test_issue10_2_s7_4_not_before_before_1950_is_malformed_at_new_order(acme: AcmeServer) -> None:
    client = await acme.client()
    await client.register()
    response = await client.new_order("old.example.internal", notBefore="0001-01-01T00:00:00Z")
    body = response.json()
    assert response.status_code == 400 and body["type"] == ERR + "malformed"
    assert "notBefore" in body["detail"] and "Replay-Nonce" in response.headers


async def test_issue10_2_s7_4_an_order_for_a_past_period_is_malformed(acme: AcmeServer) -> None:
    client = await acme.client()
    await client.register()
    response = await client.new_order(
        "past.example.internal", notBefore="2000-01-01T00:00:00Z", notAfter="2000-02-01T00:00:00Z"
    )
    body = response.json()
    assert response.status_code == 400 and body["type"] == ERR + "malformed"
    assert "notBefore" in body["detail"] and "maxBackdate" in body["detail"]
    recent = (datetime.now(UTC) - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (await client.new_order("recent.example.internal", notBefore=recent)).status_code == 201


async def test_issue10_7_s7_4_finalize_of_a_valid_order_is_order_not_ready(acme: AcmeServer) -> None:
    client, order, _ = await _issue(acme, "twice.example.internal")
    again = await client.post(order["finalize"], {"csr": b64encode(csr_der("twice.example.internal"))})
    assert again.status_code == 403 and again.json()["type"] == ERR + "orderNotReady"


@pytest.mark.parametrize("identifier", [{"type": "email", "value": "a@example.com"}, {"value": "a.example"}])
async def test_issue10_7_s7_4_unsupported_identifier_type_is_unsupported_identifier(
    acme: AcmeServer, identifier: dict[str, str]
) -> None:
    client = await acme.client()
    await client.register()
    response = await client.post(client.directory["newOrder"], {"identifiers": [identifier]})
    body = response.json()
    assert response.status_code == 400 and body["type"] == ERR + "unsupportedIdentifier"
    assert body["subproblems"][0]["identifier"] == identifier


async def test_issue10_7_s7_4_undecodable_csr_is_malformed_a_bad_one_bad_csr(acme: AcmeServer) -> None:
    client, order = await _ready_order(acme, "csr.example.internal")
    undecodable = await client.post(order["finalize"], {"csr": "!!!!"})
    assert undecodable.status_code == 400 and undecodable.json()["type"] == ERR + "malformed"
    garbage = await client.post(order["finalize"], {"csr": "AAAA"})
    assert garbage.status_code == 400 and garbage.json()["type"] == ERR + "badCSR"
    assert (await client.post(order["url"])).json()["status"] == "ready"  # a bad CSR leaves it ready


async def test_issue10_2_an_unexpected_finalize_failure_marks_the_order_invalid(acme: AcmeServer) -> None:
    """A date cryptography refuses, stored before newOrder checked dates: signing raises ValueError
    (not a CAError). The order must not stay processing, and the 500 keeps the ACME headers."""
    client, order = await _ready_order(acme, "crash.example.internal")
    order_id = order["url"].rsplit("/", 1)[1]
    engine = acme.rt.storage.write_engine
    async with engine.begin() as connection:
        await connection.execute(
            update(acme_orders)
            .where(acme_orders.c.id == order_id)
            .values(not_before=datetime(1949, 1, 1, tzinfo=UTC))
        )
    response = await client.post(order["finalize"], {"csr": b64encode(csr_der("crash.example.internal"))})
    assert response.status_code == 500 and response.json()["type"] == ERR + "serverInternal"
    assert "Replay-Nonce" in response.headers and 'rel="index"' in response.headers["Link"]
    failed = (await client.post(order["url"])).json()
    assert failed["status"] == "invalid" and failed["error"]["type"] == ERR + "serverInternal"
