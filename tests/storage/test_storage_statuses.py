"""The storage edge types every status: the CHECK constraints list exactly the enums' values, records
come back holding enum members, an unknown value in the database is refused naming table, column and
value (on SQLAlchemy's path and on the prepared driver path), and an unknown value is never written."""

from __future__ import annotations

import re
import sqlite3
from enum import StrEnum

import pytest
from sqlalchemy import CheckConstraint
from sqlalchemy.dialects import postgresql, sqlite

from acme_server.statuses import AccountStatus, AuthorizationStatus, ChallengeStatus, OrderStatus
from acme_server.storage import Storage
from acme_server.storage.tables import StatusType, UnknownStatus, metadata
from tests.storage.acme_factories import make_account, make_order

STATUS_COLUMNS = [
    (table.name, column.name, column.type.enum)
    for table in metadata.sorted_tables
    for column in table.c
    if isinstance(column.type, StatusType)
]


def test_every_constrained_text_column_of_a_status_kind_is_typed() -> None:
    """No status column is left a bare string: each `x IN (...)` CHECK on a status, state or outcome
    column belongs to a column typed with its enum."""
    typed = {(table, column) for table, column, _ in STATUS_COLUMNS}
    constrained = {
        (table.name, constraint.name.removeprefix(f"ck_{table.name}_"))
        for table in metadata.sorted_tables
        for constraint in table.constraints
        if isinstance(constraint, CheckConstraint) and " IN (" in str(constraint.sqltext)
    }
    statuses = {(t, c) for t, c in constrained if re.search(r"status|state|outcome", c)}
    assert statuses == typed
    assert ("acme_orders", "status") in typed and ("syncs", "last_status") in typed


@pytest.mark.parametrize(
    ("table", "column", "enum"), STATUS_COLUMNS, ids=lambda v: str(getattr(v, "name", v))
)
def test_the_check_constraint_lists_exactly_the_enum(table: str, column: str, enum: type[StrEnum]) -> None:
    (constraint,) = [
        c
        for c in metadata.tables[table].constraints
        if isinstance(c, CheckConstraint) and c.name == f"ck_{table}_{column}"
    ]
    listed = re.findall(r"'([^']*)'", str(constraint.sqltext))
    assert listed == [member.value for member in enum]


@pytest.mark.parametrize(
    "dialect", [sqlite.dialect(), postgresql.asyncpg.dialect()], ids=["sqlite", "asyncpg"]
)
def test_a_read_converts_with_one_dict_lookup(dialect: object) -> None:
    """The hot path (storage/prepared.py) runs the column type's result processor per row: it is a
    dict's own __getitem__, no Python frame around it."""
    processor = StatusType(OrderStatus, "acme_orders.status").result_processor(dialect, None)  # type: ignore[arg-type]
    assert getattr(processor, "__name__", "") == "__getitem__"
    assert isinstance(getattr(processor, "__self__", None), dict)
    assert processor("ready") is OrderStatus.READY
    assert processor(None) is None  # the outer side of a join


async def test_records_hold_enum_members(storage: Storage) -> None:
    async with storage.transaction() as tx:
        account = await make_account(tx)
        order = await make_order(tx, account.id, "a.example")
    async with storage.read() as tx:
        read = await tx.orders.get(order.id)
        found = await tx.accounts.get_by_thumbprint(account.jwk_thumbprint)  # not a prepared statement
        authorization = await tx.authorizations.get(order.authorization_ids[0])
    assert read is not None and found is not None and authorization is not None
    assert type(read.status) is OrderStatus and read.status is OrderStatus.PENDING
    assert type(found.status) is AccountStatus and found.status is AccountStatus.VALID
    assert authorization.status is AuthorizationStatus.PENDING
    assert {type(c.status) for c in authorization.challenges} == {ChallengeStatus}


async def test_an_unknown_write_is_refused_and_the_row_kept(storage: Storage) -> None:
    async with storage.transaction() as tx:
        order = await make_order(tx, (await make_account(tx)).id)
    with pytest.raises(
        UnknownStatus, match=r"acme_orders\.status given 'shipped', not one of the OrderStatus values"
    ):
        async with storage.transaction() as tx:
            await tx.orders.set_status(order.id, "shipped", expected=OrderStatus.PENDING)  # type: ignore[arg-type]
    async with storage.read() as tx:
        kept = await tx.orders.get(order.id)
    assert kept is not None and kept.status is OrderStatus.PENDING


def _write_raw(database_url: str, statement: str, *parameters: str) -> None:
    """A hand edit of the SQLite file that the CHECK constraints would refuse."""
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as database:
        database.execute("PRAGMA ignore_check_constraints = ON")
        database.execute(statement, parameters)
    database.close()


@pytest.mark.parametrize("database_engine", ["sqlite"])
async def test_an_unknown_value_in_the_database_names_table_column_and_value(database_url: str) -> None:
    storage = await Storage.open(database_url)
    try:
        async with storage.transaction() as tx:
            account = await make_account(tx)
            order = await make_order(tx, account.id)
    finally:
        await storage.close()
    _write_raw(database_url, "UPDATE acme_orders SET status = 'shipped' WHERE id = ?", order.id)
    _write_raw(database_url, "UPDATE acme_accounts SET status = 'frozen' WHERE id = ?", account.id)
    storage = await Storage.open(database_url)
    try:
        with pytest.raises(UnknownStatus) as prepared_path:  # the order poll: a prepared statement
            async with storage.read() as tx:
                await tx.orders.get(order.id)
        with pytest.raises(UnknownStatus) as sqlalchemy_path:
            async with storage.read() as tx:
                await tx.accounts.get_by_thumbprint(account.jwk_thumbprint)
    finally:
        await storage.close()
    assert str(prepared_path.value) == (
        "acme_orders.status holds 'shipped', not one of the OrderStatus values: "
        "pending, ready, processing, valid, invalid"
    )
    assert str(sqlalchemy_path.value) == (
        "acme_accounts.status holds 'frozen', not one of the AccountStatus values: "
        "valid, deactivated, revoked"
    )
