"""Backups in one portable file for both engines, taken while the server runs, and their restore.

The file is gzip'd JSON lines: a header (format, schema revision, engine, time), then per table a
line naming it and its columns with their kinds, one JSON array per row, and an end line with the row
count of every table and the SHA-256 of every line before it. One format for SQLite and PostgreSQL,
so a SQLite backup restores into PostgreSQL (moving to production) and back.

Consistency: every table is read in one read-only transaction — PostgreSQL REPEATABLE READ READ ONLY
(one snapshot, as pg_dump takes it), SQLite a deferred BEGIN in WAL mode (one snapshot; writers go on
meanwhile). SQLite's backup API would copy the same snapshot page by page, but only into another
SQLite file.

Not in the file: used nonces (acme_nonces; on SQLite the `<db>-nonces` file), rate-limit counters
(acme_rate_counters; on SQLite in that file too) and leases — process state that may be forgotten.
A restore on PostgreSQL resets the used-nonce guard to the restore time, so no nonce issued before it
is accepted again (storage/nonce_store.py).

Restore runs in one transaction: refuse a non-empty target (unless forced), drop our tables, migrate to
the file's revision, load the rows, check counts and checksum, migrate to head, fix sequences. Any
failure rolls everything back."""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import zlib
from dataclasses import dataclass, replace
from datetime import datetime
from typing import IO, Any, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    LargeBinary,
    MetaData,
    Table,
    Text,
    bindparam,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.types import TypeEngine

from acme_server.errors import ConfigError, Conflict, Malformed
from acme_server.storage import migrate
from acme_server.storage.audit import AuditRecord, audit_values
from acme_server.storage.engine import create_engine
from acme_server.storage.tables import UTCDateTime, audit_events, metadata

FORMAT: Final = "acme-server-backup"
VERSION: Final = 1
# Process state, not data: used nonces may be forgotten (a restore resets the guard), rate-limit
# windows start over, leases expire, UI sessions end (everyone signs in again).
SKIPPED: Final = frozenset({"acme_nonces", "acme_rate_counters", "leases", "ui_sessions"})
# Rows every migrated schema has before anything is stored; a target holding only these is empty.
SEEDED: Final = frozenset({"config_generation", *SKIPPED})
_BATCH: Final = 500

_KINDS: Final[dict[str, TypeEngine[Any]]] = {
    "text": Text(),
    "int": BigInteger(),
    "bool": Boolean(),
    "datetime": UTCDateTime(),
    "bytes": LargeBinary(),
    "json": JSON(),
}


@dataclass(frozen=True)
class BackupSummary:
    revision: str
    engine: str
    created_at: datetime
    rows: dict[str, int]


def _kind(column: Column[Any]) -> str:
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return "datetime"
    if isinstance(kind, LargeBinary):
        return "bytes"
    if isinstance(kind, JSON):
        return "json"
    if isinstance(kind, Boolean):
        return "bool"
    if kind.python_type is int:
        return "int"
    return "text"


def _encode(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        return value.isoformat()
    if kind == "bytes":
        return base64.b64encode(value).decode()
    return value


def _decode(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        return datetime.fromisoformat(value)
    if kind == "bytes":
        return base64.b64decode(value, validate=True)
    return value


def _backed_up() -> list[Table]:
    """Our tables, parents before children (the order a restore inserts them in)."""
    return [table for table in metadata.sorted_tables if table.name not in SKIPPED]


def _line(record: Any) -> bytes:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


# --- backup --------------------------------------------------------------------------------------


async def write_backup(url: str, out: IO[bytes], *, now: datetime) -> BackupSummary:
    """Write a backup of the database at `url` to the binary stream `out` (gzip'd)."""
    engine = create_engine(url, read_only=True)
    try:
        async with engine.connect() as connection, connection.begin():
            name = connection.dialect.name
            return await connection.run_sync(lambda sync: _dump(sync, out, engine=name, now=now))
    finally:
        await engine.dispose()


def _dump(connection: Connection, out: IO[bytes], *, engine: str, now: datetime) -> BackupSummary:
    revision = migrate.current_revision(connection)
    if revision != migrate.head():
        raise ConfigError(
            f"the database schema is at revision {revision!r}, not {migrate.head()!r}: back it up with the "
            "release that runs on it, or start this release's server once to migrate it"
        )
    digest = hashlib.sha256()
    rows: dict[str, int] = {}
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as packed:

        def write(record: Any) -> None:
            data = _line(record)
            digest.update(data)
            packed.write(data)

        write(
            {
                "format": FORMAT,
                "version": VERSION,
                "revision": revision,
                "engine": engine,
                "created_at": now.isoformat(),
            }
        )
        for table in _backed_up():
            kinds = [_kind(column) for column in table.columns]
            write(
                {
                    "table": table.name,
                    "columns": [[c.name, k] for c, k in zip(table.columns, kinds, strict=True)],
                }
            )
            ordered = select(table).order_by(*table.primary_key.columns)
            result = connection.execution_options(stream_results=True, yield_per=_BATCH).execute(ordered)
            count = 0
            for row in result:
                write([_encode(kind, value) for kind, value in zip(kinds, row, strict=True)])
                count += 1
            rows[table.name] = count
        packed.write(_line({"end": {"rows": rows, "sha256": digest.hexdigest()}}))
    return BackupSummary(revision=revision, engine=engine, created_at=now, rows=rows)


# --- restore -------------------------------------------------------------------------------------


class _Reader:
    """The file's records in order, each line added to the running checksum; a broken file is one
    Malformed naming what is wrong."""

    def __init__(self, source: IO[bytes], name: str) -> None:
        self._lines = gzip.GzipFile(fileobj=source, mode="rb")
        self.name = name
        self.digest = hashlib.sha256()
        self.number = 0

    def bad(self, why: str) -> Malformed:
        return Malformed(f"{self.name}: not a usable acme-server backup ({why})")

    def next(self) -> Any:
        try:
            data = self._lines.readline()
        except (OSError, EOFError, zlib.error) as error:
            # gzip.BadGzipFile is an OSError; a cut-off file is EOFError
            raise self.bad(f"{error or 'the file is cut off'}") from None
        if not data:
            raise self.bad("the file ends before its end record: cut off")
        self.number += 1
        try:
            record = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise self.bad(f"line {self.number} is not JSON") from None
        if not (isinstance(record, dict) and "end" in record):
            self.digest.update(data)
        return record

    def at_eof(self) -> bool:
        try:
            return self._lines.read(1) == b""
        except (OSError, EOFError, zlib.error):
            return False


async def restore_backup(
    url: str, source: IO[bytes], *, name: str, force: bool, now: datetime, audit: AuditRecord | None = None
) -> BackupSummary:
    """Load the backup in `source` into the database at `url`, all or nothing. `audit`: the restore's
    own audit row, stored after the rows of the file in the same transaction (with the backup's
    revision and creation time added to its detail), so the restored log records the restore."""
    reader = _Reader(source, name)
    header = reader.next()
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise reader.bad("no acme-server backup header")
    if header.get("version") != VERSION:
        raise reader.bad(f"format version {header.get('version')!r}; this release reads {VERSION}")
    revision = header.get("revision")
    if not isinstance(revision, str) or not migrate.is_known(revision):
        raise ConfigError(
            f"{name} was written at schema revision {revision!r}, which this release of acme-server does not "
            "know (it is newer): restore it with the release that wrote it"
        )
    try:
        created_at = datetime.fromisoformat(str(header.get("created_at")))
    except ValueError:
        raise reader.bad("the header's created_at is not a time") from None
    engine = create_engine(url)
    try:
        async with engine.connect() as connection, connection.begin():
            rows = await connection.run_sync(lambda sync: _load(sync, reader, revision, force=force, now=now))
            if audit is not None:
                backup = {"revision": revision, "backupCreatedAt": created_at.isoformat()}
                row = replace(audit, detail={**audit.detail, **backup})
                await connection.execute(insert(audit_events).values(**audit_values(row)))
    finally:
        await engine.dispose()
    return BackupSummary(
        revision=revision, engine=str(header.get("engine")), created_at=created_at, rows=rows
    )


def _load(
    connection: Connection, reader: _Reader, revision: str, *, force: bool, now: datetime
) -> dict[str, int]:
    _check_empty(connection, force=force)
    _drop_ours(connection)
    migrate.upgrade_to(connection, revision)
    present = set(inspect(connection).get_table_names())
    for table in reversed(metadata.sorted_tables):  # the seed rows of the migrations
        if table.name in present:
            connection.execute(table.delete())
    loaded: dict[str, int] = {}
    record = reader.next()
    while not (isinstance(record, dict) and "end" in record):
        if not (isinstance(record, dict) and isinstance(record.get("table"), str)):
            raise reader.bad(f"line {reader.number} should name a table")
        table_name: str = record["table"]
        if table_name not in present or table_name in loaded or table_name in SKIPPED | {"alembic_version"}:
            raise reader.bad(f"line {reader.number}: unexpected table {table_name!r}")
        target, kinds = _target(connection, reader, table_name, record.get("columns"))
        record, loaded[table_name] = _load_rows(connection, reader, target, kinds)
    _check_end(connection, reader, record["end"], loaded)
    migrate.upgrade_to(connection, "head")
    if connection.dialect.name == "postgresql":
        _fix_sequences(connection)
        # storage/nonce_store.py: the table now holds every used nonce only from this moment on.
        connection.execute(text("DELETE FROM acme_nonces"))
        connection.execute(
            text("INSERT INTO acme_nonces (nonce, expires_at) VALUES ('', :now)").bindparams(
                bindparam("now", type_=UTCDateTime())
            ),
            {"now": now},
        )
    return loaded


def _check_empty(connection: Connection, *, force: bool) -> None:
    present = set(inspect(connection).get_table_names())
    if force or "alembic_version" not in present:
        return
    for table in metadata.sorted_tables:
        if table.name not in present or table.name in SEEDED:
            continue
        if connection.execute(select(text("1")).select_from(table).limit(1)).first() is not None:
            raise Conflict(
                f"the target database is not empty (table {table.name} has rows); restore into an empty "
                "database, or pass --force to replace everything in it"
            )


def _drop_ours(connection: Connection) -> None:
    """Drop our tables (children first) and the migration record; nothing else in the database."""
    reflected = MetaData()
    ours = {table.name for table in metadata.sorted_tables} | {"alembic_version"}
    reflected.reflect(connection, only=lambda name, _: name in ours)
    cascade = " CASCADE" if connection.dialect.name == "postgresql" else ""
    for table in reversed(reflected.sorted_tables):
        connection.execute(text(f'DROP TABLE "{table.name}"{cascade}'))


def _target(connection: Connection, reader: _Reader, name: str, columns: Any) -> tuple[Table, list[str]]:
    """The table to insert into, typed by the file's column kinds (the schema at the file's revision,
    which may be older than tables.py)."""
    existing = {column["name"] for column in inspect(connection).get_columns(name)}
    if (
        not isinstance(columns, list)
        or not columns
        or not all(
            isinstance(c, list) and len(c) == 2 and c[0] in existing and c[1] in _KINDS for c in columns
        )
    ):
        raise reader.bad(f"line {reader.number}: the columns of {name} do not match the schema")
    kinds = [kind for _, kind in columns]
    return Table(name, MetaData(), *(Column(column, _KINDS[kind]) for column, kind in columns)), kinds


def _load_rows(connection: Connection, reader: _Reader, target: Table, kinds: list[str]) -> tuple[Any, int]:
    """Insert the rows that follow a table line; returns the next non-row record and the count.
    Columns that point at the same table (a CA's parent, a certificate's renewal links) are set after
    all its rows are in: the rows are in primary-key order, not in the order they reference each other."""
    names = [column.name for column in target.columns]
    head_table = metadata.tables.get(target.name)
    self_refs = [
        column.name
        for column in (head_table.columns if head_table is not None else [])
        if column.name in names and any(fk.column.table is head_table for fk in column.foreign_keys)
    ]
    key = [column.name for column in head_table.primary_key] if head_table is not None else []
    if self_refs and not set(key) <= set(names):
        raise reader.bad(f"the rows of {target.name} lack its primary key")
    later: list[dict[str, Any]] = []
    batch: list[dict[str, Any]] = []
    count = 0
    while True:
        record = reader.next()
        if not isinstance(record, list):
            break
        if len(record) != len(names):
            raise reader.bad(f"line {reader.number}: {len(record)} values for {len(names)} columns")
        try:
            row = {name: _decode(kind, value) for name, kind, value in zip(names, kinds, record, strict=True)}
        except (ValueError, TypeError, binascii.Error):
            raise reader.bad(f"line {reader.number}: a value does not fit its column") from None
        if self_refs and any(row[name] is not None for name in self_refs):
            later.append({**{f"k_{k}": row[k] for k in key}, **{f"v_{n}": row[n] for n in self_refs}})
            row.update(dict.fromkeys(self_refs))
        batch.append(row)
        count += 1
        if len(batch) >= _BATCH:
            _execute(connection, reader, insert(target), batch)
            batch = []
    if batch:
        _execute(connection, reader, insert(target), batch)
    if later:
        links = (
            update(target)
            .where(*(target.c[k] == bindparam(f"k_{k}") for k in key))
            .values({name: bindparam(f"v_{name}") for name in self_refs})
        )
        _execute(connection, reader, links, later)
    return record, count


def _execute(connection: Connection, reader: _Reader, statement: Any, rows: list[dict[str, Any]]) -> None:
    try:
        connection.execute(statement, rows)
    except (DBAPIError, StatementError) as error:
        first = str(getattr(error, "orig", error)).strip().splitlines()[0]
        raise reader.bad(f"the rows of {statement.table.name} do not load: {first}") from None


def _check_end(connection: Connection, reader: _Reader, end: Any, loaded: dict[str, int]) -> None:
    if not isinstance(end, dict) or end.get("sha256") != reader.digest.hexdigest():
        raise reader.bad("the checksum does not match: the file was changed or damaged")
    if end.get("rows") != loaded:
        raise reader.bad("the row counts of its end record do not match its rows")
    if not reader.at_eof():
        raise reader.bad("data after the end record")
    for name, expected in loaded.items():
        stored = connection.execute(select(func.count()).select_from(text(f'"{name}"'))).scalar_one()
        if stored != expected:
            raise reader.bad(f"table {name} holds {stored} rows after loading {expected}")


def _fix_sequences(connection: Connection) -> None:
    """PostgreSQL: a serial column's sequence continues after the largest loaded value."""
    serials = connection.execute(
        text(
            "SELECT * FROM (SELECT table_name, column_name,"
            " pg_get_serial_sequence(quote_ident(table_name), column_name) AS seq"
            " FROM information_schema.columns WHERE table_schema = current_schema()) AS serial"
            " WHERE seq IS NOT NULL"
        )
    ).all()
    for table_name, column_name, sequence in serials:
        connection.execute(
            text(
                f'SELECT setval(:seq, COALESCE((SELECT max("{column_name}") FROM "{table_name}"), 1),'
                f' (SELECT max("{column_name}") FROM "{table_name}") IS NOT NULL)'
            ),
            {"seq": sequence},
        )
