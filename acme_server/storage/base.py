"""What every repository shares: statement execution over one AsyncConnection (integrity errors become
Conflict here, an unknown status stays UnknownStatus), row-to-record mapping, ids and the storage clock."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Hashable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    Executable,
    FromClause,
    Row,
    Select,
    Table,
    and_,
    bindparam,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, CursorResult, Dialect
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement

from acme_server.storage.integrity import as_conflict
from acme_server.storage.prepared import plan_for, prepared
from acme_server.storage.tables import UnknownStatus, config_generation

R = TypeVar("R")
S = TypeVar("S")


def make_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    """created_at/updated_at stamps; times that carry meaning (revoked_at, lease expiry) are arguments."""
    return datetime.now(UTC)


def to_record(cls: type[R], row: Row[Any]) -> R:
    """A record dataclass from a row whose column names are its field names."""
    return cls(**row._mapping)


C = TypeVar("C", Connection, AsyncConnection)


class _Beneath(Generic[C]):
    """A repository's connection: SQLAlchemy's connection beneath, whose prepared statements
    (storage/prepared.py) the subclass runs on the driver."""

    def __init__(self, connection: C) -> None:
        self._connection: C = connection

    @property
    def dialect(self) -> Dialect:
        return self._connection.dialect


class LoopConnection(_Beneath[Connection]):
    """A synchronous SQLAlchemy connection (SQLite reads, engine.create_sqlite_loop_reader) behind the
    async interface of AsyncConnection: each statement runs at once on the calling thread."""

    async def execute(
        self, statement: Executable, parameters: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None
    ) -> CursorResult[Any]:
        plan = plan_for(statement, parameters, self._connection.dialect)
        if plan is not None:  # a prepared statement: on the driver (storage/prepared.py)
            # PreparedResult answers the part of CursorResult the repositories use.
            return cast(CursorResult[Any], plan.execute(self._connection, parameters))
        return self._connection.execute(statement, parameters)

    async def stream(self, statement: Executable) -> _Streamed:
        return _Streamed(self._connection.execute(statement))


class DriverConnection(_Beneath[AsyncConnection]):
    """A PostgreSQL AsyncConnection whose prepared statements run straight on asyncpg
    (storage/prepared.py); every other statement goes through SQLAlchemy as before."""

    async def execute(
        self, statement: Executable, parameters: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None
    ) -> CursorResult[Any]:
        plan = plan_for(statement, parameters, self._connection.dialect)
        if plan is not None:
            return cast(CursorResult[Any], await plan.execute_async(self._connection, parameters))
        return await self._connection.execute(statement, parameters)

    async def stream(self, statement: Executable) -> Any:
        return await self._connection.stream(statement)


class _Streamed:
    def __init__(self, result: CursorResult[Any]) -> None:
        self._result = result

    async def partitions(self) -> AsyncIterator[Sequence[Any]]:
        for partition in self._result.partitions():
            yield partition
            await asyncio.sleep(0)  # let other requests run between batches


_BUILT: dict[Hashable, Any] = {}


def built_once(key: Hashable, build: Callable[[], S]) -> S:
    """The statement for `key`, built by `build` the first time only: building a select or update
    (columns, coercions, proxies) costs more per request than executing it, and SQLAlchemy caches
    only the compiled form. The statement must take everything that varies as bind parameters."""
    statement = _BUILT.get(key)
    if statement is None:
        statement = _BUILT[key] = prepared(build())
    return statement


def inserting(table: Table) -> Any:
    """INSERT INTO `table`, the columns and values given as the execution's parameters."""
    return built_once(("insert", table.name), lambda: insert(table))


def updating(table: Table, where: ColumnElement[bool], columns: Sequence[str]) -> Any:
    """UPDATE `table` WHERE `where` SET each of `columns` to the bind parameter "v_<column>"."""
    return update(table).where(where).values({name: bindparam(f"v_{name}") for name in columns})


class Repository:
    """A repository is a thin set of statements over the connection of one transaction."""

    def __init__(self, connection: AsyncConnection | LoopConnection | DriverConnection) -> None:
        self._connection = connection

    async def _execute(
        self, statement: Executable, parameters: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None
    ) -> CursorResult[Any]:
        try:
            return await self._connection.execute(statement, parameters)
        except IntegrityError as error:
            conflict = as_conflict(error, _named_parameters(statement, parameters))
            if conflict is None:
                raise
            raise conflict from error
        except StatementError as error:  # SQLAlchemy wraps a bind processor's refusal: unwrap ours
            if isinstance(error.orig, UnknownStatus):
                raise error.orig from None
            raise

    async def _one_or_none(
        self, cls: type[R], statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> R | None:
        row = (await self._execute(statement, parameters)).first()
        return None if row is None else to_record(cls, row)

    async def _inserted(self, cls: type[R], table: Table, values: Mapping[str, Any]) -> R:
        """INSERT one row of `table` and return it as a record (RETURNING every column)."""
        record = await self._one_or_none(cls, insert(table).values(dict(values)).returning(*table.c))
        assert record is not None  # an INSERT ... RETURNING that did not raise returned its row
        return record

    async def _all(
        self, cls: type[R], statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> list[R]:
        return [to_record(cls, row) for row in await self._execute(statement, parameters)]

    async def _read_pairs(self, table: Table, owner_column: str, owner: str) -> dict[str, str]:
        """The key/value metadata of one owner (a certificate or a request), by key."""
        return (await self._read_pairs_of(table, owner_column, [owner]))[owner]

    async def _read_pairs_of(
        self, table: Table, owner_column: str, owners: Sequence[str]
    ) -> dict[str, dict[str, str]]:
        """The metadata of several owners in one query (a listed page), each by key; {} for an owner
        without any."""
        found: dict[str, dict[str, str]] = {owner: {} for owner in owners}
        if not owners:
            return found
        owner = table.c[owner_column]
        statement = built_once(
            ("pairs of", table.name, owner_column),
            lambda: (
                select(owner, table.c.key, table.c.value)
                .where(owner.in_(bindparam("owners", expanding=True)))
                .order_by(owner, table.c.key)
            ),
        )
        for row in await self._execute(statement, {"owners": list(owners)}):
            found[row._mapping[owner_column]][row._mapping["key"]] = row._mapping["value"]
        return found

    async def _insert_pairs(
        self, table: Table, owner_column: str, owner: str, pairs: Mapping[str, str]
    ) -> None:
        if pairs:
            rows = [{owner_column: owner, "key": key, "value": value} for key, value in pairs.items()]
            await self._execute(inserting(table), rows)


class ConfigRepository(Repository):
    """A repository of configuration (CAs, policies, profiles, cross certificates): each change also
    bumps config_generation in the same transaction, so no writer can forget to invalidate the
    caches that services/config/catalog.py keeps in every worker and replica."""

    async def _changed(self) -> None:
        await self._execute(update(config_generation).values(value=config_generation.c.value + 1))


def _named_parameters(
    statement: Executable, parameters: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None
) -> Mapping[str, Any]:
    if isinstance(parameters, Mapping):
        return parameters
    if isinstance(statement, ClauseElement):
        compiled: Mapping[str, Any] = statement.compile().params
        return compiled
    return {}


def pairs_match(
    owner_id: ColumnElement[str], table: Table, owner_column: str, pairs: Mapping[str, str]
) -> list[ColumnElement[bool]]:
    """One condition per metadata pair; together they say the owner has ALL the pairs. `IN (ids
    with the pair)`: the planner materialises each pair's owners, cheap when they are few."""
    return [
        owner_id.in_(select(table.c[owner_column]).where(table.c.key == key, table.c.value == value))
        for key, value in sorted(pairs.items())
    ]


def pairs_exist(
    owner_id: ColumnElement[str], table: Table, owner_column: str, pairs: Mapping[str, str]
) -> list[ColumnElement[bool]]:
    """The same conditions as correlated EXISTS probes of the (owner, key) primary key: a page read
    along the created_at index stops after its rows, cheap when many owners match (a first page of
    10,000 matches among 100,000 in under a millisecond, where IN sorts all 10,000)."""
    return [
        exists().where(table.c[owner_column] == owner_id, table.c.key == key, table.c.value == value)
        for key, value in sorted(pairs.items())
    ]


def pair_owners(table: Table, key: str, value: str) -> Select[int]:
    """How many owners have one pair: a range count of the covering (key, value, owner) index."""
    return select(func.count()).select_from(table).where(table.c.key == key, table.c.value == value)


def pairs_owners(
    table: Table, owner_column: str, pairs: Sequence[tuple[str, str]]
) -> tuple[FromClause, list[ColumnElement[bool]], ColumnElement[str]]:
    """The owners having ALL the (non-empty) pairs as a join of the metadata table with itself, read
    from its covering (key, value, owner) index alone: the join, its conditions and the owner column.
    The first pair drives the join: give the rarest first. A count of matches then never touches the
    owners' rows (joined to them only for other filters)."""
    (first_key, first_value), *rest = pairs
    first = table.alias("pair_0")
    owner = first.c[owner_column]
    joined: FromClause = first
    for index, (key, value) in enumerate(rest, start=1):
        other = table.alias(f"pair_{index}")
        joined = joined.join(
            other, and_(other.c[owner_column] == owner, other.c.key == key, other.c.value == value)
        )
    return joined, [first.c.key == first_key, first.c.value == first_value], owner
