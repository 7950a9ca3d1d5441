"""storage.accounts.list (the UI's accounts page, both engines): pages of accounts newest first with
the total, and an offset past the end is an empty page with the same total."""

from __future__ import annotations

from acme_server.storage import Storage
from tests.storage.acme_factories import make_account


async def test_accounts_are_listed_newest_first_in_pages_with_the_total(storage: Storage) -> None:
    created = []
    for _ in range(3):
        async with storage.transaction() as tx:
            created.append(await make_account(tx))
    newest_first = sorted(created, key=lambda a: (a.created_at, a.id), reverse=True)
    async with storage.read() as tx:
        first, total = await tx.accounts.list(limit=2, offset=0)
        second, again = await tx.accounts.list(limit=2, offset=2)
        past, after = await tx.accounts.list(limit=2, offset=10)
    assert (total, again, after) == (3, 3, 3)
    assert [a.created_at for a in first + second] == [a.created_at for a in newest_first]
    assert {a.id for a in first + second} == {a.id for a in created}
    assert first[0] == next(a for a in created if a.id == first[0].id)  # whole records
    assert past == []
