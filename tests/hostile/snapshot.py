"""Every row of every table, read through the project's storage engine, to prove that a refused
request changed nothing. Left out is only what a refused request may change by design."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import select

from acme_server.storage import Storage
from acme_server.storage.tables import metadata

# RFC 8555 §6.5: every JWS the server reads uses its nonce up, refused or not (PostgreSQL keeps the
# used nonces in this table; SQLite in a file of their own, storage/nonce_store.py). Leases are the
# background workers' claims (CRL updater, recovery), renewed on their own clock. Rate-limit counters
# count refused attempts on purpose (a refused newOrder, a wrong API token: docs/security.md "Rate
# limits"); PostgreSQL keeps them here, SQLite beside the used nonces.
EXEMPT_TABLES = frozenset({"acme_nonces", "leases", "acme_rate_counters"})
# services/access/tokens.py: an authenticated API call records the token's use (at most once a minute).
EXEMPT_COLUMNS = {"api_tokens": frozenset({"last_used_at"})}

Row = dict[str, Any]
Snapshot = dict[str, list[Row]]


async def snapshot(storage: Storage) -> Snapshot:
    """{table: its rows in primary-key order}, each row without the exempt columns."""
    rows: Snapshot = {}
    async with storage.write_engine.connect() as connection:
        for table in metadata.sorted_tables:
            if table.name in EXEMPT_TABLES:
                continue
            exempt = EXEMPT_COLUMNS.get(table.name, frozenset())
            columns = [c for c in table.columns if c.name not in exempt]
            statement = select(*columns).order_by(*table.primary_key.columns)
            rows[table.name] = [dict(row._mapping) for row in await connection.execute(statement)]
    return rows


@asynccontextmanager
async def unchanged(storage: Storage, *, may_add: tuple[str, ...] = ()) -> AsyncIterator[Snapshot]:
    """Assert that the block leaves every table's rows (count and content) as they were. Tables in
    `may_add` may gain rows (every old row kept as it was); the new rows are put into the yielded
    dict by table name when the block ends, for the caller to check."""
    before = await snapshot(storage)
    added: Snapshot = {}
    yield added
    after = await snapshot(storage)
    for name in may_add:
        added[name] = [row for row in after[name] if row not in before[name]]
        after[name] = [row for row in after[name] if row in before[name]]
    changed = {
        name: {"before": len(before[name]), "after": len(after[name])}
        for name in before
        if before[name] != after[name]
    }
    assert changed == {}, f"the refused request changed these tables (row counts): {changed}"
