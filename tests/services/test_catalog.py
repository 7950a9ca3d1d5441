"""The configuration catalog: cached per process, never stale across processes. Two Runtimes on one
database stand for two workers or replicas; every change to a CA, policy, profile or cross certificate
bumps the generation in its own transaction, so the other process reloads on its next read."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from acme_server.errors import NotFound
from acme_server.services.access import tokens
from acme_server.services.acme import orders
from acme_server.services.config import ca_creation, cas, catalog, policies, profiles
from acme_server.services.platform import bootstrap
from acme_server.services.runtime import Runtime
from acme_server.storage import Storage
from ca_core.errors import UnknownProfile
from ca_core.request import Subject
from tests.services.conftest import PUBLIC_URL


async def _generation(rt: Runtime) -> int:
    async with rt.storage.read() as tx:
        return await tx.config.current()


@pytest.fixture
async def replica(dev: Runtime, database_url: str) -> AsyncIterator[Runtime]:
    """A second process's runtime: its own storage (connection pool) and cache, the same KEK."""
    storage = await Storage.open(database_url)
    yield Runtime(storage=storage, kek=dev.kek, public_url=PUBLIC_URL)
    await storage.close()


async def test_a_fresh_catalog_is_reused_while_the_generation_stands_still(dev: Runtime) -> None:
    first = await catalog.current(dev)
    assert await catalog.current(dev) is first
    assert first.profile("default")[1].name == "default"


async def test_a_profile_change_in_another_process_is_seen_at_once(dev: Runtime, replica: Runtime) -> None:
    assert (await orders.load_profile(replica, "default")).profile.allow_wildcards
    document = (await profiles.get_profile(dev, "default")).profile.to_document()
    await profiles.update_profile(dev, "default", {**document, "allowWildcards": False})
    assert not (await orders.load_profile(replica, "default")).profile.allow_wildcards


async def test_a_deleted_profile_is_gone_for_every_process(dev: Runtime, replica: Runtime) -> None:
    document = (await profiles.get_profile(dev, "default")).profile.to_document()
    await profiles.create_profile(dev, "short-lived", document)
    assert (await orders.load_profile(replica, "short-lived")).profile.name == "short-lived"
    await profiles.delete_profile(dev, "short-lived")
    with pytest.raises(UnknownProfile):
        await orders.load_profile(replica, "short-lived")


async def test_a_policy_change_reaches_the_cached_profile(dev: Runtime, replica: Runtime) -> None:
    before = (await orders.load_profile(replica, "default")).policy
    assert before is not None
    document = (await policies.get_policy(dev, before.name)).policy.to_document()
    await policies.update_policy(dev, before.name, {**document, "maxTtl": "1d"})
    after = (await orders.load_profile(replica, "default")).policy
    assert after is not None and after != before


async def test_a_disabled_ca_is_disabled_for_every_process(dev: Runtime, replica: Runtime) -> None:
    assert (await cas.load_authority(replica, "dev-intermediate")).enabled
    await cas.set_ca_enabled(dev, "dev-intermediate", False)
    assert not (await cas.load_authority(replica, "dev-intermediate")).enabled


async def test_an_unknown_ca_is_not_found(dev: Runtime) -> None:
    with pytest.raises(NotFound):
        await cas.load_authority(dev, "no-such-ca")


def _root(rt: Runtime, name: str) -> Awaitable[object]:
    return ca_creation.create_root_ca(rt, name=name, subject=Subject(common_name=name))


CHANGES: dict[str, Callable[[Runtime], Awaitable[object]]] = {
    "create policy": lambda rt: policies.create_policy(rt, "extra", {}),
    "create profile": lambda rt: profiles.create_profile(rt, "extra", {"caId": "dev-intermediate"}),
    "create root CA": lambda rt: _root(rt, "extra-root"),
    "disable CA": lambda rt: cas.set_ca_enabled(rt, "dev-cross-root", False),
    "cross-sign CA": lambda rt: ca_creation.cross_sign_ca(rt, "dev-intermediate", issuer="extra-root-2"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
async def test_every_configuration_change_moves_the_generation(dev: Runtime, change: str) -> None:
    if change == "cross-sign CA":
        await _root(dev, "extra-root-2")
    before = await _generation(dev)
    await CHANGES[change](dev)
    assert await _generation(dev) > before


async def test_unrelated_writes_leave_the_generation_alone(dev: Runtime) -> None:
    before = await _generation(dev)
    await bootstrap.ensure_dev_setup(dev)  # idempotent: finds everything in place
    await tokens.create_token(dev, "unrelated", tokens.Role.VIEWER)  # a write that is no configuration
    assert await _generation(dev) == before
