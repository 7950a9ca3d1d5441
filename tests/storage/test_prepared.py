"""storage/prepared.py: the hot statements on the driver (pysqlite, asyncpg) give exactly what
SQLAlchemy gives — the same rows, the same stored values (JSON null, timestamps, booleans), the same
errors — and the statements it cannot express run through SQLAlchemy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Executable, select, text

from acme_server.errors import Conflict
from acme_server.storage import Storage
from acme_server.storage.authorizations import _GET_AUTHORIZATION, _GET_AUTHORIZATIONS
from acme_server.storage.orders import _GET_ORDER
from acme_server.storage.prepared import plan_for
from acme_server.storage.tables import acme_orders, certificates
from tests.storage.acme_factories import make_account, make_order
from tests.storage.factories import make_ca, make_certificate


@pytest.fixture
async def sqlite_storage(tmp_path: Path) -> AsyncIterator[Storage]:
    opened = await Storage.open(f"sqlite:///{tmp_path / 'ca.db'}")
    try:
        yield opened
    finally:
        await opened.close()


async def _both_ways(storage: Storage, statement: Executable, parameters: dict[str, Any]) -> tuple[Any, Any]:
    """The statement's rows on the driver (prepared) and through SQLAlchemy, as plain dicts."""
    async with storage.read() as tx:
        connection = tx.orders._connection  # the transaction's LoopConnection or DriverConnection
        fast = [dict(row._mapping) for row in await connection.execute(statement, parameters)]
        beneath = connection._connection  # SQLAlchemy's own (sync or async) connection
        result = beneath.execute(statement, parameters)
        slow = [dict(row._mapping) for row in (await result if storage.dialect == "postgresql" else result)]
    return fast, slow


async def test_a_prepared_join_gives_the_rows_sqlalchemy_gives(storage: Storage) -> None:
    async with storage.transaction() as tx:
        account = await make_account(tx)
        order = await make_order(tx, account.id, "a.example", "b.example")

    fast, slow = await _both_ways(storage, _GET_ORDER, {"id": order.id})
    assert fast == slow and len(fast) == 2
    assert fast[0]["created_at"].tzinfo is not None  # UTCDateTime's result processing ran
    assert fast[0]["identifiers"] == [
        {"type": "dns", "value": "a.example"},
        {"type": "dns", "value": "b.example"},
    ]

    fast, slow = await _both_ways(storage, _GET_AUTHORIZATION, {"id": order.authorization_ids[0]})
    assert fast == slow and len(fast) == 3  # one row per challenge
    assert isinstance(fast[0]["wildcard"], bool)


async def test_an_expanding_in_gets_a_plan_per_number_of_values(storage: Storage) -> None:
    async with storage.transaction() as tx:
        account = await make_account(tx)
        order = await make_order(tx, account.id, "a.example", "b.example", "c.example")
    ids = sorted(order.authorization_ids)
    for count in (1, 2, 3, 2, 1):  # each length compiled once, then reused
        fast, slow = await _both_ways(storage, _GET_AUTHORIZATIONS, {"ids": ids[:count]})
        assert fast == slow and len(fast) == 3 * count
    dialect = storage.engines[1].dialect
    assert plan_for(_GET_AUTHORIZATIONS, {"ids": ids[:2]}, dialect) is plan_for(
        _GET_AUTHORIZATIONS, {"ids": ["x", "y"]}, dialect
    )


async def test_values_stored_through_the_driver_read_back_as_sqlalchemy_stores_them(
    sqlite_storage: Storage,
) -> None:
    """The order insert is prepared; a row written by SQLAlchemy itself is the reference: the JSON
    column's None is stored the same way (JSON null, not SQL NULL, by SQLAlchemy's default)."""
    async with sqlite_storage.transaction() as tx:
        account = await make_account(tx)
        order = await make_order(tx, account.id, "a.example")
        values = {column.name: getattr(order, column.name) for column in acme_orders.c}
        values["id"] = "reference-order"
        values["identifiers"] = list(values["identifiers"])
        tx.orders._connection._connection.execute(acme_orders.insert(), values)  # SQLAlchemy's path
    async with sqlite_storage.read() as tx:
        raw = tx.orders._connection._connection
        stored = {
            row[0]: row[1:]
            for row in raw.execute(
                text("SELECT id, error, typeof(error), not_before, created_at FROM acme_orders")
            )
        }
    # error (JSON null as text, not SQL NULL), not_before (NULL), created_at (the same text format)
    assert stored[order.id] == stored["reference-order"]


async def test_a_unique_violation_on_the_driver_is_still_a_conflict(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
        await make_certificate(tx, ca_id=ca.id, serial="0abc")
    with pytest.raises(Conflict):
        async with storage.transaction() as tx:
            await make_certificate(tx, ca_id=ca.id, serial="0abc")  # certificates insert is prepared
    async with storage.read() as tx:
        count = (await tx.orders._connection.execute(select(certificates.c.id))).all()
    assert len(count) == 1


async def test_what_the_driver_plan_cannot_express_runs_through_sqlalchemy(storage: Storage) -> None:
    dialect = storage.engines[1].dialect
    assert plan_for(_GET_ORDER, {"id": "x"}, dialect) is not None
    assert plan_for(_GET_AUTHORIZATIONS, {"ids": []}, dialect) is None  # an empty expanding IN
    assert plan_for(select(acme_orders.c.id), None, dialect) is None  # not marked prepared()
    async with storage.read() as tx:
        assert await tx.authorizations.get_many(["missing"]) == []
