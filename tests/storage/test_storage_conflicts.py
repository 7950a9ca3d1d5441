"""Integrity errors from either driver: unique and foreign-key violations become one Conflict with a
one-line detail; other violations (CHECK, NOT NULL) are bugs and stay database errors."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from acme_server.errors import Conflict
from acme_server.storage import Storage
from tests.storage.factories import make_ca, make_certificate, make_profile


async def _conflict(storage: Storage, *, name: str = "x") -> str:
    """Create what the test's parameter names twice; the detail of the Conflict."""
    async with storage.transaction() as tx:
        ca = await make_ca(tx, "first")
        await make_certificate(tx, ca_id=ca.id, serial="abc")
    with pytest.raises(Conflict) as caught:
        async with storage.transaction() as tx:
            if name == "ca":
                await make_ca(tx, "first")
            elif name == "policy":
                await tx.policies.create(name="p", document={})
                await tx.policies.create(name="p", document={})
            elif name == "profile":
                await make_profile(tx, "p")
                await make_profile(tx, "p")
            else:
                await make_certificate(tx, ca_id=ca.id, serial="ABC")
    assert "\n" not in caught.value.detail
    return caught.value.detail


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        ("ca", "a CA named 'first' already exists"),
        ("policy", "a policy named 'p' already exists"),
        ("profile", "a profile named 'p' already exists"),
        ("serial", "a certificate with serial abc already exists for this CA"),
    ],
)
async def test_unique_violations_are_conflicts_naming_what_clashed(
    storage: Storage, name: str, detail: str
) -> None:
    assert await _conflict(storage, name=name) == detail


async def test_a_conflict_rolls_the_transaction_back(storage: Storage) -> None:
    with pytest.raises(Conflict):
        async with storage.transaction() as tx:
            await tx.policies.create(name="kept-out", document={})
            await make_ca(tx, "dup")
            await make_ca(tx, "dup")
    async with storage.read() as tx:
        assert await tx.policies.list() == []
        assert await tx.cas.list() == []


async def test_foreign_key_violations_are_conflicts(storage: Storage) -> None:
    with pytest.raises(Conflict, match="does not exist, or removes one still in use"):
        async with storage.transaction() as tx:
            await make_profile(tx, "orphan", ca_id="00000000-0000-0000-0000-000000000000")
    async with storage.transaction() as tx:
        policy = await tx.policies.create(name="used", document={})
        await make_profile(tx, "user", policy_id=policy.id)
    with pytest.raises(Conflict):
        async with storage.transaction() as tx:
            await tx.policies.delete(policy.id)


async def test_check_violations_are_not_conflicts(storage: Storage) -> None:
    with pytest.raises(IntegrityError):
        async with storage.transaction() as tx:
            await make_ca(tx, "odd", kind="sideways")
