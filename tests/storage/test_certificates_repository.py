"""storage.certificates: the inventory — create with metadata, lookups, filtered and paged listing,
metadata replacement, conditional status changes, renewal links and deletion."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from acme_server.storage import CertificateFilter, CertificateRecord, Storage, Tx
from tests.storage.factories import NOW, make_ca, make_certificate, make_profile


async def test_create_stores_every_column_and_metadata(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
        profile = await make_profile(tx, ca_id=ca.id)
        certificate = await make_certificate(
            tx,
            ca_id=ca.id,
            profile_id=profile.id,
            serial="00AB12",
            friendly_name="web",
            chain_pem="CHAIN",
            sealed_key=b"\x00sealed",
            san_text="www.example.com example.com",
            enrollment="cli",
            order_id="order-1",
            auto_renew=True,
            metadata={"team": "payments", "env": "prod"},
        )
    assert isinstance(certificate, CertificateRecord)
    assert certificate.serial == "00ab12"  # stored lowercase
    assert (certificate.status, certificate.enrollment, certificate.auto_renew) == ("active", "cli", True)
    assert certificate.sealed_key == b"\x00sealed"
    assert (certificate.revoked_at, certificate.renewed_by_id, certificate.renewed_from_id) == (
        None,
        None,
        None,
    )
    async with storage.read() as tx:
        assert await tx.certificates.get(certificate.id) == certificate
        assert await tx.certificates.get_metadata(certificate.id) == {"env": "prod", "team": "payments"}
        assert await tx.certificates.get("missing") is None


async def test_get_by_serial_is_per_issuer(storage: Storage) -> None:
    async with storage.transaction() as tx:
        one, two = await make_ca(tx, "one"), await make_ca(tx, "two")
        first = await make_certificate(tx, ca_id=one.id, serial="0a0b")
        second = await make_certificate(tx, ca_id=two.id, serial="0a0b")  # same serial, other CA
        self_signed = await make_certificate(tx, ca_id=None, serial="0a0b")
    async with storage.read() as tx:
        assert await tx.certificates.get_by_serial(one.id, "0A0B") == first
        assert await tx.certificates.get_by_serial(two.id, "0a0b") == second
        assert await tx.certificates.get_by_serial(None, "0a0b") == self_signed
        assert await tx.certificates.get_by_serial(one.id, "ffff") is None


async def _ids(tx: Tx, query: CertificateFilter, **paging: int) -> tuple[list[str], int]:
    records, total = await tx.certificates.list(query, **paging)
    return [r.id for r in records], total


async def test_list_filters_each_criterion(storage: Storage) -> None:
    async with storage.transaction() as tx:
        one, two = await make_ca(tx, "one"), await make_ca(tx, "two")
        web = await make_profile(tx, "web", ca_id=one.id)
        a = await make_certificate(tx, ca_id=one.id, profile_id=web.id, common_name="Alpha.Example.com")
        b = await make_certificate(
            tx, ca_id=two.id, common_name="beta", san_text="beta.internal 10.0.0.7", status="revoked"
        )
        c = await make_certificate(tx, ca_id=one.id, not_after=NOW + timedelta(days=5), common_name="gamma")
    async with storage.read() as tx:
        assert await _ids(tx, CertificateFilter()) == ([c.id, b.id, a.id], 3)
        assert await _ids(tx, CertificateFilter(status="revoked")) == ([b.id], 1)
        assert await _ids(tx, CertificateFilter(profile_id=web.id)) == ([a.id], 1)
        assert await _ids(tx, CertificateFilter(ca_id=one.id)) == ([c.id, a.id], 2)
        assert await _ids(tx, CertificateFilter(expiring_before=NOW + timedelta(days=30))) == ([c.id], 1)
        assert await _ids(tx, CertificateFilter(status="active", ca_id=two.id)) == ([], 0)


async def test_search_matches_common_name_or_sans_case_insensitively(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
        a = await make_certificate(
            tx, ca_id=ca.id, common_name="Alpha.Example.com", san_text="alpha.example.com"
        )
        b = await make_certificate(tx, ca_id=ca.id, common_name="beta", san_text="beta.internal 10.0.0.7")
        odd = await make_certificate(tx, ca_id=ca.id, common_name="100%_sure", san_text="")
    async with storage.read() as tx:
        assert await _ids(tx, CertificateFilter(search="EXAMPLE")) == ([a.id], 1)
        assert await _ids(tx, CertificateFilter(search="10.0.0.7")) == ([b.id], 1)
        assert await _ids(tx, CertificateFilter(search="a.")) == ([b.id, a.id], 2)
        # LIKE wildcards in the search text are literal characters.
        assert await _ids(tx, CertificateFilter(search="%_")) == ([odd.id], 1)
        assert await _ids(tx, CertificateFilter(search="_")) == ([odd.id], 1)
        assert await _ids(tx, CertificateFilter(search="nothing")) == ([], 0)


async def test_metadata_filter_needs_all_pairs(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
        prod = await make_certificate(tx, ca_id=ca.id, metadata={"team": "payments", "env": "prod"})
        staging = await make_certificate(tx, ca_id=ca.id, metadata={"team": "payments", "env": "staging"})
        await make_certificate(tx, ca_id=ca.id, metadata={"team": "search", "env": "prod"})
        await make_certificate(tx, ca_id=ca.id)
    async with storage.read() as tx:
        both = CertificateFilter(metadata={"team": "payments", "env": "prod"})
        assert await _ids(tx, both) == ([prod.id], 1)
        team = CertificateFilter(metadata={"team": "payments"})
        assert await _ids(tx, team) == ([staging.id, prod.id], 2)
        assert await _ids(tx, CertificateFilter(metadata={"team": "payments", "env": "dev"})) == ([], 0)
        combined = CertificateFilter(metadata={"team": "payments"}, search="www", status="active")
        assert await _ids(tx, combined) == ([staging.id, prod.id], 2)


async def test_metadata_filters_give_the_same_pages_whichever_way_they_are_matched(storage: Storage) -> None:
    """list() counts from the metadata index and matches dense pairs by EXISTS probes, sparse ones by
    IN (storage/certificates.py); every filter and page must equal a plain reading of the rows."""
    teams, envs = ("ops", "web", "db"), ("prod", "dev")
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
        made = []
        for index in range(48):
            pairs = {"team": teams[index % 3], "env": envs[index % 2]}
            if index % 16 == 0:
                pairs["rare"] = "yes"
            made.append(await make_certificate(tx, ca_id=ca.id, metadata=pairs))
            if index % 5 == 0:
                await tx.certificates.set_status(made[-1].id, "revoked")
    async with storage.read() as tx:
        newest_first, _ = await _ids(tx, CertificateFilter(), limit=100)
        stored = {c.id: await tx.certificates.get_metadata(c.id) for c in made}
        statuses = {c.id: (await tx.certificates.get(c.id)).status for c in made}  # type: ignore[union-attr]
        filters = [
            {"team": "ops"},
            {"team": "ops", "env": "prod"},
            {"env": "dev", "rare": "yes"},
            {"rare": "yes"},
            {"team": "nobody"},
        ]
        for pairs in filters:
            for status in (None, "revoked", "active"):
                expected = [
                    key
                    for key in newest_first
                    if all(stored[key].get(k) == v for k, v in pairs.items())
                    and status in (None, statuses[key])
                ]
                for limit, offset in ((5, 0), (5, 5), (2, 6), (50, 0)):
                    query = CertificateFilter(metadata=pairs, status=status)
                    page = await _ids(tx, query, limit=limit, offset=offset)
                    assert page == (expected[offset : offset + limit], len(expected)), (pairs, status, offset)


async def test_paging_keeps_the_total(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
        created = [await make_certificate(tx, ca_id=ca.id) for _ in range(7)]
    newest_first = [c.id for c in reversed(created)]
    async with storage.read() as tx:
        pages = [await _ids(tx, CertificateFilter(), limit=3, offset=offset) for offset in (0, 3, 6, 9)]
    assert [total for _, total in pages] == [7, 7, 7, 7]
    assert [ids for ids, _ in pages] == [newest_first[0:3], newest_first[3:6], newest_first[6:], []]


async def test_metadata_of_a_page_is_read_in_one_go(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
        tagged = await make_certificate(tx, ca_id=ca.id, metadata={"team": "web", "env": "prod"})
        bare = await make_certificate(tx, ca_id=ca.id)
        other = await make_certificate(tx, ca_id=ca.id, metadata={"team": "ops"})
    async with storage.read() as tx:
        assert await tx.certificates.get_metadata_of([tagged.id, bare.id]) == {
            tagged.id: {"env": "prod", "team": "web"},
            bare.id: {},
        }
        assert await tx.certificates.get_metadata_of([]) == {}
        assert (await tx.certificates.get_metadata_of([other.id, "missing"]))["missing"] == {}


async def test_set_metadata_replaces_all_pairs(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
        certificate = await make_certificate(tx, ca_id=ca.id, metadata={"a": "1", "b": "2"})
    async with storage.transaction() as tx:
        await tx.certificates.set_metadata(certificate.id, {"b": "3", "c": "4"})
    async with storage.read() as tx:
        assert await tx.certificates.get_metadata(certificate.id) == {"b": "3", "c": "4"}
    async with storage.transaction() as tx:
        await tx.certificates.set_metadata(certificate.id, {})
        assert await tx.certificates.get_metadata(certificate.id) == {}


async def test_set_status_is_conditional_on_expected(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
        certificate = await make_certificate(tx, ca_id=ca.id)
        assert await tx.certificates.set_status(certificate.id, "superseded", expected="revoked") is False
        assert await tx.certificates.set_status(certificate.id, "superseded", expected="active") is True
        assert await tx.certificates.set_status(certificate.id, "active") is True
        assert await tx.certificates.set_status("missing", "active") is False


async def test_concurrent_conditional_updates_have_one_winner(storage: Storage, database_url: str) -> None:
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
        certificate = await make_certificate(tx, ca_id=ca.id)
    other = await Storage.open(database_url)

    async def supersede(pool: Storage) -> bool:
        async with pool.transaction() as tx:
            return await tx.certificates.set_status(certificate.id, "superseded", expected="active")

    try:
        results = await asyncio.wait_for(asyncio.gather(*(supersede(p) for p in (storage, other) * 3)), 60)
    finally:
        await other.close()
    assert sorted(results) == [False] * 5 + [True]


async def test_mark_renewed_links_both_and_supersedes_the_old(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
        old = await make_certificate(tx, ca_id=ca.id)
        new = await make_certificate(tx, ca_id=ca.id)
        rival = await make_certificate(tx, ca_id=ca.id)
        assert await tx.certificates.mark_renewed(old.id, new.id) is True
        assert await tx.certificates.mark_renewed(old.id, rival.id) is False  # one renewal wins
        old_now, new_now, rival_now = [await tx.certificates.get(c.id) for c in (old, new, rival)]
    assert old_now is not None and new_now is not None and rival_now is not None
    assert (old_now.status, old_now.renewed_by_id) == ("superseded", new.id)
    assert (new_now.status, new_now.renewed_from_id) == ("active", old.id)
    assert rival_now.renewed_from_id is None


async def test_renewing_a_revoked_certificate_keeps_it_revoked(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
        old = await make_certificate(tx, ca_id=ca.id)
        new = await make_certificate(tx, ca_id=ca.id)
        assert await tx.revocations.revoke(old.id, reason="KEY_COMPROMISE", revoked_at=NOW, source="api")
        assert await tx.certificates.mark_renewed(old.id, new.id) is True
        stored = await tx.certificates.get(old.id)
    assert stored is not None and stored.status == "revoked"


async def test_set_auto_renew(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
        certificate = await make_certificate(tx, ca_id=ca.id)
        assert await tx.certificates.set_auto_renew(certificate.id, True) is True
        assert await tx.certificates.set_auto_renew("missing", True) is False
        stored = await tx.certificates.get(certificate.id)
    assert stored is not None and stored.auto_renew is True


async def test_delete_takes_metadata_and_unlinks_renewals(storage: Storage) -> None:
    async with storage.transaction() as tx:
        ca = await make_ca(tx)
        old = await make_certificate(tx, ca_id=ca.id, metadata={"k": "v"})
        new = await make_certificate(tx, ca_id=ca.id)
        await tx.certificates.mark_renewed(old.id, new.id)
    async with storage.transaction() as tx:
        assert await tx.certificates.delete(old.id) is True
        assert await tx.certificates.delete(old.id) is False
        assert await tx.certificates.get_metadata(old.id) == {}
        survivor = await tx.certificates.get(new.id)
        assert await _ids(tx, CertificateFilter(metadata={"k": "v"})) == ([], 0)
    assert survivor is not None and survivor.renewed_from_id is None
