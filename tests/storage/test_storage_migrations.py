"""Migrations run on open: from empty to head, idempotent on re-open, safe when several processes open
at once, and producing exactly the schema tables.py declares."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import JSON, LargeBinary, column, insert, inspect, table, text
from sqlalchemy.engine import Connection

from acme_server.errors import ConfigError
from acme_server.storage import Storage, migrate
from acme_server.storage.engine import create_engine
from acme_server.storage.tables import UTCDateTime, metadata
from tests.storage.factories import NOW

REPOSITORY = Path(__file__).resolve().parents[2]


async def _revision_and_tables(url: str) -> tuple[str | None, set[str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            tables = set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
            revision = None
            if "alembic_version" in tables:
                revision = (
                    await connection.execute(text("SELECT version_num FROM alembic_version"))
                ).scalar()
            return revision, tables
    finally:
        await engine.dispose()


async def test_open_migrates_an_empty_database_to_head(empty_database_url: str) -> None:
    assert await _revision_and_tables(empty_database_url) == (None, set())
    storage = await Storage.open(empty_database_url)
    await storage.close()
    revision, tables = await _revision_and_tables(empty_database_url)
    assert revision == migrate.head()
    assert tables == set(metadata.tables) | {"alembic_version"}


async def test_reopening_keeps_schema_and_data(empty_database_url: str) -> None:
    storage = await Storage.open(empty_database_url)
    async with storage.transaction() as tx:
        policy = await tx.policies.create(name="kept", document={"a": 1})
    await storage.close()
    storage = await Storage.open(empty_database_url)
    try:
        async with storage.read() as tx:
            assert await tx.policies.get(policy.id) == policy
    finally:
        await storage.close()
    assert (await _revision_and_tables(empty_database_url))[0] == migrate.head()


def _schema_differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_migrated_schema_is_exactly_tables_py(empty_database_url: str) -> None:
    storage = await Storage.open(empty_database_url)
    await storage.close()
    engine = create_engine(empty_database_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_schema_differences) == []
    finally:
        await engine.dispose()


async def test_downgrade_to_base_and_upgrade_again(empty_database_url: str) -> None:
    storage = await Storage.open(empty_database_url)
    await storage.close()
    engine = create_engine(empty_database_url)
    try:
        async with engine.connect() as connection, connection.begin():
            await connection.run_sync(lambda c: command.downgrade(migrate.alembic_config(c), "base"))
    finally:
        await engine.dispose()
    assert (await _revision_and_tables(empty_database_url))[1] <= {"alembic_version"}
    storage = await Storage.open(empty_database_url)
    await storage.close()
    assert (await _revision_and_tables(empty_database_url))[0] == migrate.head()


async def test_concurrent_opens_of_a_fresh_database_migrate_once(empty_database_url: str) -> None:
    opened = await asyncio.wait_for(asyncio.gather(*(Storage.open(empty_database_url) for _ in range(4))), 60)
    for storage in opened:
        await storage.close()
    assert (await _revision_and_tables(empty_database_url))[0] == migrate.head()


async def test_processes_starting_together_all_open_a_fresh_database(empty_database_url: str) -> None:
    """Replicas or workers starting at once: every process opens; none sees a half-made schema."""
    script = (
        "import asyncio, sys\n"
        "from acme_server.storage import Storage\n"
        "async def main():\n"
        "    storage = await Storage.open(sys.argv[1])\n"
        "    async with storage.read() as tx:\n"
        "        await tx.cas.list()\n"
        "    await storage.close()\n"
        "asyncio.run(main())\n"
    )
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, empty_database_url, env=environment, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    results = [await asyncio.wait_for(p.communicate(), 120) for p in processes]
    failures = [stderr.decode() for p, (_, stderr) in zip(processes, results, strict=True) if p.returncode]
    assert failures == []
    assert (await _revision_and_tables(empty_database_url))[0] == migrate.head()


def test_migration_scripts_are_found_next_to_the_package() -> None:
    assert migrate.MIGRATIONS.is_dir()
    assert (migrate.MIGRATIONS / "env.py").is_file()
    assert (migrate.MIGRATIONS / "script.py.mako").is_file()
    # The newest script (files are numbered in order) is the single head.
    newest = sorted((migrate.MIGRATIONS / "versions").glob("[0-9]*.py"))[-1]
    assert migrate.head() == newest.name.split("_", 1)[0]


async def test_a_schema_newer_than_the_code_is_a_config_error(empty_database_url: str) -> None:
    await (await Storage.open(empty_database_url)).close()
    engine = create_engine(empty_database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    finally:
        await engine.dispose()
    with pytest.raises(ConfigError, match="revision '9999_from_the_future'"):
        await Storage.open(empty_database_url)


def _keys_before_0010(connection: Connection) -> None:
    """At revision 0009: an account bound by a key, and a key that bound nothing."""
    migrate.upgrade_to(connection, "0009")
    accounts = table(
        "acme_accounts",
        *(column(name) for name in ("id", "jwk_thumbprint", "status", "terms_agreed", "eab_kid")),
        column("jwk", JSON),
        column("contacts", JSON),
        column("created_at", UTCDateTime()),
    )
    keys = table(
        "eab_keys",
        column("kid"),
        column("sealed_hmac", LargeBinary),
        column("bound_account_id"),
        column("created_at", UTCDateTime()),
        column("bound_at", UTCDateTime()),
    )
    connection.execute(
        insert(accounts).values(
            id="acct-1", jwk_thumbprint="tp", status="valid", terms_agreed=True, eab_kid="used",
            jwk={}, contacts=[], created_at=NOW,
        )
    )  # fmt: skip
    bound = {"bound_account_id": "acct-1", "bound_at": NOW}
    unbound = {"bound_account_id": None, "bound_at": None}
    connection.execute(
        insert(keys),
        [
            {"kid": "used", "sealed_hmac": b"s", "created_at": NOW, **bound},
            {"kid": "fresh", "sealed_hmac": b"s", "created_at": NOW, **unbound},
        ],
    )


async def test_0010_keeps_existing_eab_keys_single_use(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    try:
        async with engine.connect() as connection, connection.begin():
            await connection.run_sync(_keys_before_0010)
    finally:
        await engine.dispose()
    storage = await Storage.open(empty_database_url)
    try:
        async with storage.read() as tx:
            used, fresh = await tx.eab.get("used"), await tx.eab.get("fresh")
            bindings = await tx.eab.bindings(["used", "fresh"])
    finally:
        await storage.close()
    assert used is not None and fresh is not None
    assert (used.max_accounts, used.account_count, used.is_full) == (1, 1, True)
    assert (fresh.max_accounts, fresh.account_count, fresh.is_full) == (1, 0, False)
    assert [(b.kid, b.account_id) for b in bindings] == [("used", "acct-1")]
