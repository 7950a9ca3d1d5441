"""Timestamps go in and come out as aware UTC on both engines (SQLite keeps no zone: storage
normalises at its edge), and comparisons in SQL are by instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import StatementError

from acme_server.storage import CertificateFilter, Storage
from tests.storage.factories import make_ca, make_certificate

PARIS = timezone(timedelta(hours=2))


async def test_aware_utc_round_trips_exactly(storage: Storage) -> None:
    not_before = datetime(2026, 5, 4, 3, 2, 1, 987654, tzinfo=UTC)
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
        created = await make_certificate(tx, ca_id=ca.id, not_before=not_before)
    async with storage.read() as tx:
        stored = await tx.certificates.get(created.id)
    assert stored is not None
    assert stored.not_before == not_before
    for value in (stored.not_before, stored.not_after, stored.created_at, ca.created_at):
        assert value.tzinfo is UTC


async def test_other_zones_are_stored_as_the_same_instant_in_utc(storage: Storage) -> None:
    local = datetime(2026, 5, 4, 14, 0, tzinfo=PARIS)
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
        created = await make_certificate(tx, ca_id=ca.id, not_after=local)
    assert created.not_after == local
    assert created.not_after.tzinfo is UTC and created.not_after.hour == 12


async def test_comparisons_are_by_instant_whatever_the_zone(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
        certificate = await make_certificate(
            tx, ca_id=ca.id, not_after=datetime(2026, 5, 4, 12, 30, tzinfo=UTC)
        )
    async with storage.read() as tx:
        # 14:00 in UTC+2 is 12:00 UTC: earlier than not_after, though "14:00" > "12:30" as text.
        before = await tx.certificates.list(
            CertificateFilter(expiring_before=datetime(2026, 5, 4, 14, tzinfo=PARIS))
        )
        after = await tx.certificates.list(
            CertificateFilter(expiring_before=datetime(2026, 5, 4, 15, tzinfo=PARIS))
        )
    assert before == ([], 0)
    assert [r.id for r in after[0]] == [certificate.id]


async def test_naive_datetimes_are_refused(storage: Storage) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        async with storage.transaction() as tx:
            await make_ca(tx, not_after=datetime(2030, 1, 1))  # naive on purpose
