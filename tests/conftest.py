"""Database fixtures shared by every suite: each test that uses them runs once on SQLite and once on
PostgreSQL, each time starting from a database at the head schema with no rows.

- `database_engine`  "sqlite" or "postgresql" (the parameter; narrow a test to one engine with
                     `@pytest.mark.parametrize("database_engine", ["sqlite"])`).
- `database_url`     a database at head with no rows. SQLite: a copy in tmp_path of a template migrated
                     once per session. PostgreSQL: one database per session, migrated once and emptied
                     (DELETE from every table) before each test — a per-test CREATE DATABASE costs 0.1-0.6 s.
                     A test must not change the schema there; use `empty_database_url` for that.
- `empty_database_url` a fresh database of the test's own with no tables at all (migration tests).
- `storage`          `Storage.open(database_url)`, closed after the test.

PostgreSQL: postgres://postgres@127.0.0.1:5432/postgres (override with ACME_TEST_POSTGRES_URL). Test
databases are named acme_test_<hex> and dropped WITH (FORCE). When the server is unreachable the
PostgreSQL half is skipped, or fails under ACME_REQUIRE_POSTGRES=1. Deselect it with -m "not postgres".
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import pytest_asyncio

from acme_server.storage import Storage
from acme_server.storage.tables import metadata

POSTGRES_ADMIN_URL = os.environ.get("ACME_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def _postgres_url(name: str) -> str:
    """The admin URL pointed at database `name`."""
    return urlunsplit(urlsplit(POSTGRES_ADMIN_URL)._replace(path=f"/{name}"))


def _new_database_name() -> str:
    return f"acme_test_{secrets.token_hex(6)}"


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def require_postgres() -> None:
    """Return once the server answered; otherwise skip (or fail under ACME_REQUIRE_POSTGRES=1). For a
    test whose thread already runs an event loop (Playwright's), run it in a thread of its own."""
    try:
        await _admin("SELECT 1")
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        message = f"PostgreSQL is unreachable at {POSTGRES_ADMIN_URL}: {error}"
        if os.environ.get("ACME_REQUIRE_POSTGRES") == "1":
            pytest.fail(message + " (ACME_REQUIRE_POSTGRES=1)", pytrace=False)
        pytest.skip(message)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def _postgres_server() -> str:
    """The admin URL, once the server answered; otherwise skip (or fail under ACME_REQUIRE_POSTGRES=1)."""
    await require_postgres()
    return POSTGRES_ADMIN_URL


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def _postgres_database(_postgres_server: str) -> AsyncIterator[str]:
    """The session's database, migrated to head once; database_url empties it before each test."""
    name = _new_database_name()
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        storage = await Storage.open(_postgres_url(name))
        await storage.close()
        yield name
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _empty_postgres_tables(name: str) -> None:
    """DELETE every row, children first (much cheaper than TRUNCATE or a new database per test)."""
    # config_generation keeps its one row (the migration creates it; the schema needs it).
    emptied = [t for t in reversed(metadata.sorted_tables) if t.name != "config_generation"]
    # acme_nonces keeps its guard row (nonce ''): without it every first nonce would count as issued
    # before a crash of PostgreSQL emptied the table (storage/nonce_store.py).
    keep = {"acme_nonces": " WHERE nonce <> ''"}
    statements = "; ".join(f'DELETE FROM "{table.name}"{keep.get(table.name, "")}' for table in emptied)
    connection = await asyncpg.connect(_postgres_url(name), timeout=10)
    try:
        async with connection.transaction():
            await connection.execute(statements)
    finally:
        await connection.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session (closed, so its WAL is checkpointed away)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    storage = await Storage.open(str(path))
    await storage.close()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_engine(request: pytest.FixtureRequest) -> str:
    """The engine under test. Session fixtures are requested lazily, from this synchronous fixture
    (outside any event loop), so a SQLite-only run never touches PostgreSQL."""
    if request.param == "postgresql":
        request.getfixturevalue("_postgres_server")
    return str(request.param)


def database_source(engine: str, request: pytest.FixtureRequest) -> Path | str:
    """SQLite: the template file to copy. PostgreSQL: the session database to empty. Called from a
    synchronous fixture of any scope (tests/hostile shares one database per module)."""
    if engine == "sqlite":
        path: Path = request.getfixturevalue("_sqlite_template")
        return path
    name: str = request.getfixturevalue("_postgres_database")
    return name


async def fresh_database_url(source: Path | str, directory: Path) -> str:
    """A database at the head schema with no rows: a copy of the SQLite template in `directory`, or
    the PostgreSQL session database emptied."""
    if isinstance(source, Path):
        path = directory / "acme.db"
        shutil.copyfile(source, path)
        return f"sqlite:///{path}"
    await _empty_postgres_tables(source)
    return _postgres_url(source)


@pytest.fixture
def _database_source(database_engine: str, request: pytest.FixtureRequest) -> Path | str:
    return database_source(database_engine, request)


@pytest.fixture
async def database_url(database_engine: str, _database_source: Path | str, tmp_path: Path) -> str:
    """A database at the head schema with no rows (see the module docstring)."""
    return await fresh_database_url(_database_source, tmp_path)


@asynccontextmanager
async def new_empty_database(engine: str, sqlite_path: Path) -> AsyncIterator[str]:
    """The URL of a fresh database with no tables on `engine` (SQLite: `sqlite_path`, no file yet;
    PostgreSQL: a database of its own, dropped when the block ends)."""
    if engine == "sqlite":
        yield f"sqlite:///{sqlite_path}"
        return
    name = _new_database_name()
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        yield _postgres_url(name)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def empty_database_url(database_engine: str, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh database with no tables (SQLite: a path with no file yet)."""
    async with new_empty_database(database_engine, tmp_path / "empty.db") as url:
        yield url


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[Storage]:
    """An opened Storage on `database_url`."""
    opened = await Storage.open(database_url)
    try:
        yield opened
    finally:
        await opened.close()
