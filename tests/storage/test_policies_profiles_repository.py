"""storage.policies and storage.profiles: named JSON documents, updates that bump updated_at, deletes,
and the in-use count of a profile."""

from __future__ import annotations

import pytest

from acme_server.errors import NotFound
from acme_server.storage import PolicyRecord, ProfileRecord, Storage
from tests.storage.factories import make_ca, make_certificate, make_profile

DOCUMENT = {"allow": {"dns": ["*.example.com"], "ip": ["10.0.0.0/8"]}, "maxTtl": "90d", "nested": [1, None]}


async def test_policy_create_get_list(storage: Storage) -> None:
    async with storage.transaction() as tx:
        first = await tx.policies.create(name="first", document=DOCUMENT)
        second = await tx.policies.create(name="second", document={})
    assert isinstance(first, PolicyRecord)
    assert first.document == DOCUMENT
    assert first.created_at == first.updated_at
    async with storage.read() as tx:
        assert await tx.policies.get(first.id) == first
        assert await tx.policies.get_by_name("second") == second
        assert await tx.policies.get("missing") is None
        assert await tx.policies.get_by_name("missing") is None
        assert await tx.policies.list() == [first, second]


async def test_policy_update_replaces_document_and_bumps_updated_at(storage: Storage) -> None:
    async with storage.transaction() as tx:
        policy = await tx.policies.create(name="p", document=DOCUMENT)
    async with storage.transaction() as tx:
        updated = await tx.policies.update(policy.id, document={"allow": {}})
    assert updated.document == {"allow": {}}
    assert updated.created_at == policy.created_at
    assert updated.updated_at > policy.updated_at
    async with storage.read() as tx:
        assert await tx.policies.get(policy.id) == updated


async def test_policy_update_of_unknown_is_not_found(storage: Storage) -> None:
    with pytest.raises(NotFound):
        async with storage.transaction() as tx:
            await tx.policies.update("missing", document={})


async def test_policy_delete(storage: Storage) -> None:
    async with storage.transaction() as tx:
        policy = await tx.policies.create(name="p", document={})
        assert await tx.policies.delete(policy.id) is True
        assert await tx.policies.delete(policy.id) is False
        assert await tx.policies.get(policy.id) is None


async def test_profile_create_get_list(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
        policy = await tx.policies.create(name="p", document={})
        bound = await make_profile(tx, "bound", ca_id=ca.id, policy_id=policy.id, document=DOCUMENT)
        bare = await make_profile(tx, "bare")
    assert isinstance(bound, ProfileRecord)
    assert (bound.ca_id, bound.policy_id, bound.document) == (ca.id, policy.id, DOCUMENT)
    assert (bare.ca_id, bare.policy_id) == (None, None)
    async with storage.read() as tx:
        assert await tx.profiles.get(bound.id) == bound
        assert await tx.profiles.get_by_name("bare") == bare
        assert await tx.profiles.get("missing") is None
        assert await tx.profiles.list() == [bound, bare]


async def test_profile_update_replaces_settings(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
        profile = await make_profile(tx, "p", ca_id=ca.id)
    async with storage.transaction() as tx:
        updated = await tx.profiles.update(
            profile.id, document={"validity": "7d"}, ca_id=None, policy_id=None
        )
    assert (updated.document, updated.ca_id, updated.policy_id) == ({"validity": "7d"}, None, None)
    assert updated.created_at == profile.created_at
    assert updated.updated_at > profile.updated_at
    with pytest.raises(NotFound):
        async with storage.transaction() as tx:
            await tx.profiles.update("missing", document={}, ca_id=None, policy_id=None)


async def test_profile_delete_and_certificate_count(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
        used = await make_profile(tx, "used", ca_id=ca.id)
        unused = await make_profile(tx, "unused")
        for _ in range(3):
            await make_certificate(tx, ca_id=ca.id, profile_id=used.id)
    async with storage.transaction() as tx:
        assert await tx.profiles.count_certificates(used.id) == 3
        assert await tx.profiles.count_certificates(unused.id) == 0
        assert await tx.profiles.delete(unused.id) is True
        assert await tx.profiles.delete(unused.id) is False
