"""Designed for speed: a JWS request pays one database transaction for its nonce and account together
(counted with SQLAlchemy's engine events on the running server's storage)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from tests.acme.conftest import AcmeServer


@contextmanager
def counted_transactions(acme: AcmeServer) -> Iterator[list[int]]:
    engine = acme.rt.storage._engine.sync_engine
    count = [0]

    def on_begin(*_: Any) -> None:
        count[0] += 1

    event.listen(engine, "begin", on_begin)
    try:
        yield count
    finally:
        event.remove(engine, "begin", on_begin)


async def test_an_account_post_as_get_is_one_transaction(acme: AcmeServer) -> None:
    client = await acme.client()
    await client.register()
    assert client.kid is not None
    with counted_transactions(acme) as count:
        nonce = await client.nonce()
        assert count[0] == 0  # handing out a nonce costs no database work at all
        response = await client.post(client.kid, nonce=nonce)
    assert response.status_code == 200
    assert count[0] == 1
