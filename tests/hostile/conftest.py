"""One database, one server and one set of accounts per module (and per engine: SQLite and
PostgreSQL, as tests/conftest.py `database_engine`), so that the corpus of hostile requests stays
fast: each case only sends its request and compares the database before and after."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from acme_server.storage import Storage
from tests.conftest import database_source, fresh_database_url


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def corpus_engine(request: pytest.FixtureRequest) -> str:
    """The engine of this module's database (session fixtures requested lazily, as database_engine)."""
    if request.param == "postgresql":
        request.getfixturevalue("_postgres_server")
    return str(request.param)


@pytest.fixture(scope="module")
def _corpus_source(corpus_engine: str, request: pytest.FixtureRequest) -> Path | str:
    return database_source(corpus_engine, request)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def corpus_storage(
    _corpus_source: Path | str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Storage]:
    """An opened Storage on a database at head with no rows, shared by the module's tests."""
    url = await fresh_database_url(_corpus_source, tmp_path_factory.mktemp("hostile-db"))
    opened = await Storage.open(url)
    try:
        yield opened
    finally:
        await opened.close()
