"""Issue 10, defect 9: a SQLite write lock held by another process past the busy timeout is 503 with
Retry-After (serverInternal, as Boulder types storage failures), logged, never an unexpected 500;
a client that drops its connection mid-body is one info line, not a traceback."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import ssl
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from sqlalchemy.engine import make_url

from acme_server.storage import Storage
from acme_server.storage.engine import BUSY_RETRY_AFTER, normalize_url
from tests.acme.conftest import AcmeServer

ERR = "urn:ietf:params:acme:error:"
pytestmark = pytest.mark.parametrize("database_engine", ["sqlite"])


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[Storage]:
    """Storage that gives up on another process's write lock after 0.2 s (the default is 30 s)."""
    opened = await Storage.open(database_url, busy_timeout=0.2)
    try:
        yield opened
    finally:
        await opened.close()


async def test_issue10_9_a_held_write_lock_is_503_with_retry_after(
    acme: AcmeServer, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = await acme.client()
    path = make_url(normalize_url(database_url)).database
    assert path is not None
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    # Another process's writer that does not let go. Taken off the event loop: the server runs on this
    # loop, and a transaction it has begun (a background pass at start) must be able to finish first.
    await asyncio.to_thread(holder.execute, "BEGIN EXCLUSIVE")
    try:
        with caplog.at_level(logging.INFO, logger="acme_server"):
            response = await client.register()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    body = response.json()
    assert response.status_code == 503 and body["type"] == ERR + "serverInternal"
    assert response.headers["Retry-After"] == str(BUSY_RETRY_AFTER)
    assert "Replay-Nonce" in response.headers
    assert any("database is busy" in r.getMessage() for r in caplog.records)
    assert not any("unexpected error" in r.getMessage() for r in caplog.records)
    assert (await client.register()).status_code == 201  # the lock released, the retry works


async def test_issue10_9_client_disconnect_mid_body_is_one_info_line(
    acme: AcmeServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = urlsplit(acme.url)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with caplog.at_level(logging.INFO, logger="acme_server"):
        _reader, writer = await asyncio.open_connection(url.hostname, url.port, ssl=context)
        writer.write(
            b"POST /acme/new-order HTTP/1.1\r\nHost: x\r\nContent-Type: application/jose+json\r\n"
            b'Content-Length: 1000\r\n\r\n{"protected":'
        )
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.close()
        await asyncio.sleep(0.5)
    messages = [r.getMessage() for r in caplog.records]
    assert any("client disconnected" in m for m in messages), messages
    assert not any("unexpected error" in m for m in messages)
    assert all(r.exc_info is None for r in caplog.records)
