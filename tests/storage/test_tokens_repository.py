"""storage.tokens: REST API tokens by hash, role and lifetime."""

from __future__ import annotations

from datetime import timedelta

import pytest

from acme_server.errors import Conflict
from acme_server.storage import Storage, TokenRecord
from tests.storage.factories import NOW


async def test_create_find_list_touch_delete(storage: Storage) -> None:
    async with storage.transaction() as tx:
        admin = await tx.tokens.create(
            name="ci", role="admin", token_hash="h1", expires_at=NOW + timedelta(days=30)
        )
        viewer = await tx.tokens.create(name="dashboard", role="viewer", token_hash="h2")
    assert isinstance(admin, TokenRecord)
    assert (admin.role, admin.expires_at, admin.last_used_at) == ("admin", NOW + timedelta(days=30), None)
    assert viewer.expires_at is None
    async with storage.transaction() as tx:
        assert await tx.tokens.find_by_hash("h1") == admin
        assert await tx.tokens.find_by_hash("nope") is None
        assert await tx.tokens.list() == [admin, viewer]
        assert await tx.tokens.touch(admin.id, NOW) is True
        assert await tx.tokens.touch("missing", NOW) is False
        touched = await tx.tokens.find_by_hash("h1")
        assert touched is not None and touched.last_used_at == NOW
        assert await tx.tokens.delete(viewer.id) is True
        assert await tx.tokens.delete(viewer.id) is False
        assert [t.id for t in await tx.tokens.list()] == [admin.id]


async def test_a_token_hash_is_unique(storage: Storage) -> None:
    async with storage.transaction() as tx:
        await tx.tokens.create(name="one", role="operator", token_hash="same")
    with pytest.raises(Conflict, match="an API token with the same secret already exists"):
        async with storage.transaction() as tx:
            await tx.tokens.create(name="two", role="operator", token_hash="same")
