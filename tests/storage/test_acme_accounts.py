"""storage.accounts and storage.eab: ACME accounts found by key thumbprint, conditional deactivation and
key rollover; EAB keys binding up to their limit of accounts, counted by a conditional update."""

from __future__ import annotations

import pytest

from acme_server.errors import Conflict
from acme_server.storage import Storage
from tests.storage.acme_factories import make_account
from tests.storage.factories import NOW, make_profile


async def test_an_account_reads_back_as_created(storage: Storage) -> None:
    async with storage.transaction() as tx:
        account = await make_account(
            tx, contacts=["mailto:a@example.com", "mailto:b@example.com"], eab_kid="k1"
        )
    assert account.status == "valid"
    assert account.contacts == ("mailto:a@example.com", "mailto:b@example.com")
    assert account.created_at.tzinfo is not None
    async with storage.read() as tx:
        assert await tx.accounts.get(account.id) == account
        assert await tx.accounts.get_by_thumbprint(account.jwk_thumbprint) == account
        assert await tx.accounts.get("no-such-account") is None
        assert await tx.accounts.get_by_thumbprint("no-such-key") is None


async def test_a_second_account_with_the_same_key_is_a_conflict(storage: Storage) -> None:
    async with storage.transaction() as tx:
        account = await make_account(tx)
    with pytest.raises(Conflict) as caught:
        async with storage.transaction() as tx:
            await make_account(tx, jwk_thumbprint=account.jwk_thumbprint)
    assert caught.value.detail == "an account with this key already exists"


async def test_update_contacts_returns_the_updated_account(storage: Storage) -> None:
    async with storage.transaction() as tx:
        account = await make_account(tx)
        updated = await tx.accounts.update_contacts(account.id, ["mailto:new@example.com"])
        assert await tx.accounts.update_contacts("no-such-account", []) is None
    assert updated is not None
    assert updated.contacts == ("mailto:new@example.com",)
    async with storage.read() as tx:
        assert await tx.accounts.get(account.id) == updated


async def test_only_a_valid_account_is_deactivated(storage: Storage) -> None:
    async with storage.transaction() as tx:
        account = await make_account(tx)
        assert await tx.accounts.deactivate(account.id) is True
        assert await tx.accounts.deactivate(account.id) is False
        assert await tx.accounts.deactivate("no-such-account") is False
        found = await tx.accounts.get(account.id)
    assert found is not None
    assert found.status == "deactivated"


async def test_key_change_is_conditional_on_the_old_key(storage: Storage) -> None:
    new_jwk = {"kty": "EC", "crv": "P-256", "x": "new", "y": "new"}
    async with storage.transaction() as tx:
        account = await make_account(tx)
        old = account.jwk_thumbprint
        assert await tx.accounts.change_key(
            account.id, old_thumbprint=old, new_thumbprint="new", new_jwk=new_jwk
        )
        # The loser of two concurrent rollovers still names the old key.
        assert not await tx.accounts.change_key(
            account.id, old_thumbprint=old, new_thumbprint="other", new_jwk=new_jwk
        )
        assert await tx.accounts.get_by_thumbprint(old) is None
        found = await tx.accounts.get_by_thumbprint("new")
    assert found is not None
    assert (found.id, found.jwk) == (account.id, new_jwk)


async def test_key_change_to_another_accounts_key_is_a_conflict(storage: Storage) -> None:
    async with storage.transaction() as tx:
        first = await make_account(tx)
        second = await make_account(tx)
    with pytest.raises(Conflict, match="an account with this key already exists"):
        async with storage.transaction() as tx:
            await tx.accounts.change_key(
                second.id,
                old_thumbprint=second.jwk_thumbprint,
                new_thumbprint=first.jwk_thumbprint,
                new_jwk=first.jwk,
            )
    async with storage.read() as tx:
        assert await tx.accounts.get(second.id) == second


async def test_eab_keys_read_back_and_list_by_profile(storage: Storage) -> None:
    async with storage.transaction() as tx:
        profile = await make_profile(tx)
        any_profile = await tx.eab.create(kid="kid-1", profile_id=None, sealed_hmac=b"sealed-1")
        tied = await tx.eab.create(kid="kid-2", profile_id=profile.id, sealed_hmac=b"sealed-2")
    assert (any_profile.max_accounts, any_profile.account_count, any_profile.disabled_at) == (1, 0, None)
    async with storage.read() as tx:
        assert await tx.eab.get("kid-1") == any_profile
        assert await tx.eab.get("kid-3") is None
        assert await tx.eab.list() == [any_profile, tied]
        assert await tx.eab.list(profile.id) == [tied]


async def test_a_duplicate_eab_kid_is_a_conflict(storage: Storage) -> None:
    async with storage.transaction() as tx:
        await tx.eab.create(kid="kid-1", profile_id=None, sealed_hmac=b"s")
    with pytest.raises(Conflict, match="an external account key 'kid-1' already exists"):
        async with storage.transaction() as tx:
            await tx.eab.create(kid="kid-1", profile_id=None, sealed_hmac=b"t")


async def test_a_single_use_eab_key_counts_one_binding(storage: Storage) -> None:
    async with storage.transaction() as tx:
        await tx.eab.create(kid="kid-1", profile_id=None, sealed_hmac=b"s")
        assert await tx.eab.bind("kid-1") is True
        assert await tx.eab.bind("kid-1") is False
        assert await tx.eab.bind("no-such-kid") is False
        bound = await tx.eab.get("kid-1")
    assert bound is not None and (bound.account_count, bound.is_full) == (1, True)


async def test_an_eab_key_binds_up_to_its_limit_or_without_one(storage: Storage) -> None:
    async with storage.transaction() as tx:
        await tx.eab.create(kid="three", profile_id=None, sealed_hmac=b"s", max_accounts=3)
        await tx.eab.create(kid="fleet", profile_id=None, sealed_hmac=b"s", max_accounts=None)
        assert [await tx.eab.bind("three") for _ in range(4)] == [True, True, True, False]
        assert all([await tx.eab.bind("fleet") for _ in range(50)])
        fleet = await tx.eab.get("fleet")
    assert fleet is not None and (fleet.account_count, fleet.is_full) == (50, False)


async def test_a_disabled_eab_key_binds_nothing_until_enabled(storage: Storage) -> None:
    async with storage.transaction() as tx:
        await tx.eab.create(kid="kid-1", profile_id=None, sealed_hmac=b"s", max_accounts=None)
        assert await tx.eab.set_disabled("kid-1", NOW) is True
        assert await tx.eab.bind("kid-1") is False
        assert await tx.eab.set_disabled("kid-1", None) is True
        assert await tx.eab.bind("kid-1") is True
        assert await tx.eab.set_disabled("nope", NOW) is False


async def test_an_eab_key_lists_the_accounts_it_bound_and_deactivates_them(storage: Storage) -> None:
    async with storage.transaction() as tx:
        await tx.eab.create(kid="kid-1", profile_id=None, sealed_hmac=b"s", max_accounts=None)
        first = await make_account(tx, eab_kid="kid-1")
        second = await make_account(tx, eab_kid="kid-1")
        other = await make_account(tx, eab_kid="kid-2")
        await tx.accounts.deactivate(second.id)
    async with storage.read() as tx:
        bindings = await tx.eab.bindings(["kid-1"])
    assert sorted((b.account_id, b.status) for b in bindings) == sorted(
        [(first.id, "valid"), (second.id, "deactivated")]
    )
    async with storage.transaction() as tx:
        assert await tx.eab.deactivate_accounts("kid-1") == [first.id]  # the valid ones only
        assert (await tx.eab.bindings(["kid-2"]))[0].status == "valid"
        assert (await tx.accounts.get(other.id)) == other


async def test_delete_an_eab_key(storage: Storage) -> None:
    async with storage.transaction() as tx:
        await tx.eab.create(kid="kid-1", profile_id=None, sealed_hmac=b"s")
        assert await tx.eab.delete("kid-1") is True
        assert await tx.eab.delete("kid-1") is False
        assert await tx.eab.get("kid-1") is None
        await tx.eab.create(kid="kid-2", profile_id=None, sealed_hmac=b"s")
        assert await tx.eab.bind("kid-2")
        assert await tx.eab.delete("kid-2") is False  # it bound an account
        assert await tx.eab.delete("kid-2", bound_too=True) is True
