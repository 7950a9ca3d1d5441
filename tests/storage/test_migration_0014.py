"""Migration 0014 on SQLite and PostgreSQL: a CA made before it gets the status URL the migrating
process would have written into its certificates (else the old default), one CRL partition, and its
certificates, revocations and CRLs partition 0."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import column, insert, inspect, table
from sqlalchemy.engine import Connection

from acme_server.storage import Storage, migrate
from acme_server.storage.engine import create_engine
from acme_server.storage.tables import UTCDateTime
from tests.storage.factories import NOW

# The revision before 0014, read from the script: the lead re-chains migrations at merge.
BEFORE = str(ScriptDirectory.from_config(migrate.alembic_config()).get_revision("0014").down_revision)


def _ca_before_0014(connection: Connection) -> None:
    """At the revision before 0014: one CA and a CRL of it."""
    migrate.upgrade_to(connection, BEFORE)
    cas = table(
        "cas",
        *(column(name) for name in ("id", "name", "kind", "status", "sealed_key", "key_algorithm")),
        column("created_at", UTCDateTime()),
    )
    crls = table(
        "crls",
        *(column(name) for name in ("id", "ca_id", "number", "der")),
        *(column(name, UTCDateTime()) for name in ("this_update", "next_update", "created_at")),
    )
    connection.execute(
        insert(cas).values(
            id="ca-1", name="old", kind="root", status="active", sealed_key=b"k", key_algorithm="ED25519",
            created_at=NOW,
        )
    )  # fmt: skip
    connection.execute(
        insert(crls).values(
            id="crl-1", ca_id="ca-1", number=1, der=b"d", this_update=NOW, next_update=NOW, created_at=NOW
        )
    )


@pytest.mark.parametrize(
    ("migrating_status_url", "stored"),
    [("http://pki.example.internal", "http://pki.example.internal"), (None, "http://127.0.0.1:14080")],
)
async def test_0014_stores_the_migrating_process_status_url_on_existing_cas(
    empty_database_url: str, migrating_status_url: str | None, stored: str
) -> None:
    engine = create_engine(empty_database_url)
    try:
        async with engine.connect() as connection, connection.begin():
            await connection.run_sync(_ca_before_0014)
    finally:
        await engine.dispose()
    storage = await Storage.open(empty_database_url, status_url=migrating_status_url)
    try:
        async with storage.read() as tx:
            ca = await tx.cas.get("ca-1")
            crl = await tx.crls.latest("ca-1")
    finally:
        await storage.close()
    assert ca is not None and crl is not None
    assert (ca.status_url, ca.crl_partitions, ca.crl_partitions_published) == (stored, 1, 1)
    assert (crl.number, crl.partition) == (1, 0)


async def test_0014_downgrades_with_cas_in_place(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    try:
        async with engine.connect() as connection, connection.begin():
            await connection.run_sync(_ca_before_0014)
            await connection.run_sync(lambda sync: migrate.upgrade_to(sync, "0014"))
            await connection.run_sync(lambda sync: command.downgrade(migrate.alembic_config(sync), BEFORE))
            assert await connection.run_sync(migrate.current_revision) == BEFORE
            names = await connection.run_sync(
                lambda sync: [c["name"] for c in inspect(sync).get_columns("cas")]
            )
            assert "status_url" not in names and "crl_partitions" not in names
    finally:
        await engine.dispose()
