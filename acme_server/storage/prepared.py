"""The hot statements straight on the driver: each is compiled once, then run with pysqlite (SQLite) or
asyncpg (PostgreSQL).

SQLAlchemy's execution path costs several times the statement itself for the short, indexed
statements of the ACME flow (measured: 75 us against 15 us for the order poll's join): execution
options, the compiled-cache lookup, the execution context, the cursor wrapper and the result
metadata are made per execution. A statement marked `prepared()` (storage/base.py marks the
statements it builds once, repositories mark their module-level ones) is compiled for SQLite the
first time it runs with a given set of parameter names; later runs bind the parameters with the
compiled statement's own type processors, execute on the pysqlite connection of the same
transaction, and convert the rows with its result processors — the same values SQLAlchemy would
give, in rows that answer the subset of its Row/Result interface the repositories use.

Everything SQLAlchemy does that matters here is kept: bind and result type processing, the
`before_cursor_execute` event (tests count round trips with it), driver errors wrapped into
SQLAlchemy's (so an IntegrityError still becomes Conflict). A statement this plan cannot express —
expanding IN parameters, Python-side column defaults — runs through SQLAlchemy as before.

On PostgreSQL the statement runs on the asyncpg connection of SQLAlchemy's own transaction, through
its adapter's prepared-statement cache and lazy BEGIN, so SQLAlchemy's COMMIT or ROLLBACK ends it; what
this skips is the greenlet hop per execution and the cursor and result machinery (measured by
bench/storage_path.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement

S = TypeVar("S")

_REGISTERED: dict[int, ClauseElement] = {}  # id -> the statement (kept alive, so the id stays its own)
_PLANS: dict[tuple[int, tuple[str, ...], bool, str], _Plan | _Expanding | None] = {}


def prepared(statement: S) -> S:
    """Mark a statement built once (module level or storage.base.built_once) to run on the driver."""
    _REGISTERED[id(statement)] = statement  # type: ignore[assignment]
    return statement


def plan_for(
    statement: Any, parameters: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None, dialect: Dialect
) -> _Plan | None:
    """The driver plan of a prepared statement for these parameter names; None: run it through
    SQLAlchemy (not prepared, or not expressible)."""
    if _REGISTERED.get(id(statement)) is not statement:
        return None
    many = isinstance(parameters, Sequence) and not isinstance(parameters, Mapping)
    first: Mapping[str, Any] = (parameters[0] if parameters else {}) if many else (parameters or {})  # type: ignore[index,assignment]
    key = (id(statement), tuple(first), many, dialect.name)  # one process may use both engines (tests)
    try:
        plan = _PLANS[key]
    except KeyError:
        plan = _PLANS[key] = _Plan.compile(statement, sorted(first), many, dialect)
    if isinstance(plan, _Expanding):
        return plan.for_values(first)
    return plan


class _Plan:
    __slots__ = (
        "_defaults",
        "_expansion",
        "_keymap",
        "_keys",
        "_names",
        "_processors",
        "_result_processors",
        "sql",
    )

    def __init__(
        self,
        sql: str,
        names: Sequence[str],
        defaults: Mapping[str, Any],
        processors: Mapping[str, Callable[[Any], Any]],
        result_processors: Sequence[Callable[[Any], Any] | None],
        keymap: dict[Any, int],
        keys: tuple[str, ...],
        expansion: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.sql = sql
        self._expansion = tuple((name, tuple(parts)) for name, parts in (expansion or {}).items())
        self._names = tuple(names)
        self._defaults = dict(defaults)
        self._processors = tuple(processors.get(name) for name in names)
        self._result_processors = tuple(result_processors)
        self._keymap = keymap
        self._keys = keys

    @classmethod
    def compile(
        cls, statement: Any, keys: list[str], many: bool, dialect: Dialect
    ) -> _Plan | _Expanding | None:
        compiled: Any = statement.compile(dialect=dialect, column_keys=keys, for_executemany=many)
        if compiled.positiontup is None or compiled.insert_prefetch or compiled.update_prefetch:
            return None
        if "POSTCOMPILE" in compiled.string:
            return None if many else _Expanding(compiled, dialect)
        return cls.of(compiled, dialect, compiled.string, compiled.positiontup, compiled._bind_processors)

    @classmethod
    def of(
        cls,
        compiled: Any,
        dialect: Dialect,
        sql: str,
        names: Sequence[str],
        processors: Mapping[str, Callable[[Any], Any]],
        expansion: Mapping[str, Sequence[str]] | None = None,
    ) -> _Plan:
        results = compiled._result_columns
        keymap: dict[Any, int] = {}
        for index, entry in enumerate(results):
            keymap.setdefault(entry.keyname, index)
            for element in entry.objects:
                keymap.setdefault(element, index)
        return cls(
            sql,
            names,
            compiled.construct_params(_check=False),
            processors,
            [entry.type._cached_result_processor(dialect, None) for entry in results],
            keymap,
            tuple(entry.keyname for entry in results),
            expansion,
        )

    def _arguments(self, parameters: Mapping[str, Any]) -> tuple[Any, ...]:
        values = self._defaults | dict(parameters) if parameters else self._defaults
        if self._expansion:  # an expanding IN: one bound value per element
            values = dict(values)
            for name, parts in self._expansion:
                values.update(zip(parts, values[name], strict=True))
        return tuple(
            value if process is None else process(value)
            for value, process in zip((values[name] for name in self._names), self._processors, strict=True)
        )

    def _bound(self, parameters: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None) -> tuple[bool, Any]:
        """(executemany?, the driver's positional arguments: one tuple, or a list of them)."""
        if parameters is None or isinstance(parameters, Mapping):
            return False, self._arguments(parameters or {})
        return True, [self._arguments(row) for row in parameters]

    def _result(self, rows: Sequence[Sequence[Any]], rowcount: int) -> PreparedResult:
        processors = self._result_processors
        converted = [
            PreparedRow(
                tuple(v if p is None else p(v) for v, p in zip(row, processors, strict=True)),
                self._keymap,
                self._keys,
            )
            for row in rows
        ]
        return PreparedResult(converted, rowcount)

    def execute(
        self, connection: Connection, parameters: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None
    ) -> PreparedResult:
        driver: sqlite3.Connection = connection.connection.driver_connection  # type: ignore[assignment]
        many, arguments = self._bound(parameters)
        cursor = driver.cursor()
        hook = connection.dispatch.before_cursor_execute
        if hook:
            hook(connection, cursor, self.sql, arguments, None, many)
        try:
            if many:
                cursor.executemany(self.sql, arguments)
            else:
                cursor.execute(self.sql, arguments)
            rows = cursor.fetchall() if cursor.description is not None else []
        except sqlite3.Error as error:
            raise exc.DBAPIError.instance(self.sql, arguments, error, sqlite3.Error) from error
        finally:
            rowcount = cursor.rowcount
            cursor.close()
        return self._result(rows, rowcount)

    async def execute_async(
        self,
        connection: AsyncConnection,
        parameters: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None,
    ) -> PreparedResult:
        """The same on asyncpg, inside the transaction SQLAlchemy's connection holds (or in autocommit
        when it is an autocommit connection): the adapter's lazy BEGIN, its prepared-statement cache
        and its error translation, without a greenlet hop or a cursor."""
        sync = connection.sync_connection
        assert sync is not None  # a connected AsyncConnection
        adapter: Any = sync.connection.dbapi_connection  # checked out: no I/O
        many, arguments = self._bound(parameters)
        hook = sync.dispatch.before_cursor_execute
        if hook:
            hook(sync, None, self.sql, arguments, None, many)
        async with adapter._execute_mutex:
            try:
                if adapter._transaction is None:
                    await adapter._start_transaction()
                statement, _ = await adapter._prepare(self.sql, sync.dialect._invalidate_schema_cache_asof)  # type: ignore[attr-defined]
                if many:
                    await statement.executemany(arguments)
                    return self._result([], -1)
                rows = await statement.fetch(*arguments)
                status = statement.get_statusmsg() or ""
            except Exception as error:
                raise translate_driver_error(sync, adapter, self.sql, error, arguments) from error
        count = status.rpartition(" ")[2]
        return self._result(rows, int(count) if count.isdigit() else -1)


class _Expanding:
    """A prepared statement with expanding IN parameters (`bindparam(..., expanding=True)`): one plan
    per number of values in each, made by SQLAlchemy's own expansion of the compiled statement."""

    __slots__ = ("_compiled", "_dialect", "_names", "_plans")

    def __init__(self, compiled: Any, dialect: Dialect) -> None:
        self._compiled = compiled
        self._dialect = dialect
        self._names = tuple(sorted(key for key, bind in compiled.binds.items() if bind.expanding))
        self._plans: dict[tuple[int, ...], _Plan | None] = {}

    def for_values(self, parameters: Mapping[str, Any]) -> _Plan | None:
        try:
            lengths = tuple(len(parameters[name]) for name in self._names)
        except (KeyError, TypeError):
            return None
        try:
            return self._plans[lengths]
        except KeyError:
            plan = self._plans[lengths] = None if 0 in lengths else self._expand(lengths)
            return plan

    def _expand(self, lengths: tuple[int, ...]) -> _Plan:
        compiled = self._compiled
        sample = compiled.construct_params(
            {name: [None] * length for name, length in zip(self._names, lengths, strict=True)}, _check=False
        )
        expanded = compiled._process_parameters_for_postcompile(sample)
        processors = {**compiled._bind_processors, **expanded.processors}
        return _Plan.of(
            compiled,
            self._dialect,
            expanded.statement,
            expanded.positiontup,
            processors,
            expanded.parameter_expansion,
        )


def translate_driver_error(
    connection: Connection, adapter: Any, sql: str, error: Exception, arguments: Any = ()
) -> Exception:
    """An asyncpg error as SQLAlchemy would have raised it (IntegrityError for a unique violation, and
    so on), through the adapter's own translation; any other exception unchanged."""
    dbapi: Any = connection.dialect.loaded_dbapi
    try:
        adapter._handle_exception(error)
    except dbapi.Error as translated:
        wrapped: Exception = exc.DBAPIError.instance(sql, arguments, translated, dbapi.Error)
        return wrapped
    except Exception as other:
        return other
    return error  # _handle_exception always raises


class PreparedRow:
    """One row: by position (row[0]) or through `_mapping` by column name or column object."""

    __slots__ = ("_keymap", "_keys", "_values")

    def __init__(self, values: tuple[Any, ...], keymap: dict[Any, int], keys: tuple[str, ...]) -> None:
        self._values = values
        self._keymap = keymap
        self._keys = keys

    def __getitem__(self, index: int) -> Any:
        return self._values[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    @property
    def _mapping(self) -> _RowMapping:
        return _RowMapping(self)


class _RowMapping(Mapping[Any, Any]):
    __slots__ = ("_row",)

    def __init__(self, row: PreparedRow) -> None:
        self._row = row

    def __getitem__(self, key: Any) -> Any:
        row = self._row
        index = row._keymap.get(key)
        if index is None:  # a column of the same name from another selectable (a subquery's, say)
            index = row._keymap[getattr(key, "key", key)]
        return row._values[index]

    def __iter__(self) -> Iterator[str]:
        return iter(self._row._keys)

    def __len__(self) -> int:
        return len(self._row._keys)


class PreparedResult:
    """The rows of one execution, with the part of SQLAlchemy's Result the repositories use."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[PreparedRow], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[PreparedRow]:
        return iter(self._rows)

    def all(self) -> list[PreparedRow]:
        return self._rows

    def first(self) -> PreparedRow | None:
        return self._rows[0] if self._rows else None

    def scalars(self) -> Iterator[Any]:
        return (row[0] for row in self._rows)

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        if len(self._rows) != 1:
            raise exc.NoResultFound("no row") if not self._rows else exc.MultipleResultsFound("rows")
        return self._rows[0][0]

    def scalar_one_or_none(self) -> Any:
        if len(self._rows) > 1:
            raise exc.MultipleResultsFound("more than one row")
        return self.scalar()
