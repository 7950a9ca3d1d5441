"""storage/rotations.py on both engines: one rotation under way per old CA (the unique key), state
changes only from the expected state, and the progress counts — a successor is the one the renewal link
names or, for ACME clients that send no `replaces`, a later certificate of the new CA for the same
account and names; not renewing is a stored moment at or before the cut."""

from __future__ import annotations

from datetime import timedelta

import pytest

from acme_server.errors import Conflict
from acme_server.storage import Storage
from tests.storage.acme_factories import make_account
from tests.storage.factories import NOW, make_ca, make_certificate

KEY = "renewal-requested-at"


async def test_one_rotation_under_way_per_ca_and_conditional_transitions(storage: Storage) -> None:
    async with storage.transaction() as tx:
        old, new = await make_ca(tx, "old"), await make_ca(tx, "new")
        first = await tx.rotations.create(
            old_ca_id=old.id, new_ca_id=new.id, spread_seconds=60, grace_seconds=0, started_at=NOW
        )
    with pytest.raises(Conflict, match="the CA already has a rotation under way"):
        async with storage.transaction() as tx:
            await tx.rotations.create(
                old_ca_id=old.id, new_ca_id=new.id, spread_seconds=0, grace_seconds=0, started_at=NOW
            )
    async with storage.transaction() as tx:
        assert not await tx.rotations.transition(first.id, ["renewing"], "completed", finished_at=NOW)
        assert await tx.rotations.transition(first.id, ["started"], "cancelled", finished_at=NOW)
        assert [r.id for r in await tx.rotations.list_active()] == []
        second = await tx.rotations.create(
            old_ca_id=old.id, new_ca_id=new.id, spread_seconds=0, grace_seconds=0, started_at=NOW
        )
        assert (await tx.rotations.latest_for(old.id)) == second  # the one under way first
        ended = await tx.rotations.get(first.id)
        assert ended is not None and (ended.state, ended.active_old_ca_id, ended.finished_at) == (
            "cancelled",
            None,
            NOW,
        )


async def test_progress_counts_successors_by_link_or_by_account_and_names(storage: Storage) -> None:
    async with storage.transaction() as tx:
        old, new = await make_ca(tx, "old"), await make_ca(tx, "new")
        account, other = await make_account(tx), await make_account(tx)
        acme = {"enrollment": "acme", "account_id": account.id}
        no_replaces = await make_certificate(tx, ca_id=old.id, san_text="a.example", **acme)
        linked = await make_certificate(tx, ca_id=old.id, san_text="b.example")
        silent = await make_certificate(tx, ca_id=old.id, san_text="c.example", **acme)
        waiting = await make_certificate(tx, ca_id=old.id, san_text="d.example", **acme)
        await make_certificate(tx, ca_id=new.id, san_text="a.example", **acme)  # certbot's renewal
        successor = await make_certificate(tx, ca_id=new.id, san_text="b.example")
        assert await tx.certificates.mark_renewed(linked.id, successor.id)
        # Same names from another account: not a renewal of `waiting`'s.
        await make_certificate(tx, ca_id=new.id, san_text="d.example", enrollment="acme", account_id=other.id)
        moments = {
            no_replaces.id: "2026-01-01T00:00:00+00:00",
            silent.id: "2026-01-01T00:00:00+00:00",
            waiting.id: "2026-01-03T00:00:00+00:00",
        }
        await tx.rotations.put_metadata_values(KEY, moments)
        unmarked = await tx.rotations.unmarked_certificates(old.id, KEY, now=NOW)
        assert unmarked == []  # `linked` is superseded, the others marked
    async with storage.read() as tx:
        counts = await tx.rotations.counts(
            old.id, new.id, key=KEY, now=NOW - timedelta(days=1), overdue="2026-01-02T00:00:00+00:00"
        )
    assert (counts.on_old, counts.renewed, counts.not_renewing) == (2, 2, 1)
