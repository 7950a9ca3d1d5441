"""storage.orders: orders read back with their authorizations in creation order, in one query; keyset
paging per account; every transition is conditional and the loser learns it lost."""

from __future__ import annotations

from datetime import timedelta

from acme_server.storage import Storage
from tests.storage.acme_factories import counting, make_account, make_authorizations, make_order
from tests.storage.factories import NOW, make_profile

PROBLEM = {"type": "urn:ietf:params:acme:error:badCSR", "detail": "the CSR names another identifier"}


async def test_an_order_reads_back_as_created(storage: Storage) -> None:
    async with storage.transaction() as tx:
        account = await make_account(tx)
        profile = await make_profile(tx)
        authorizations = await make_authorizations(tx, account.id, "a.example", "b.example", "c.example")
        # Not the order they were created in: the order keeps the list it was given.
        ids = [authorizations[2].id, authorizations[0].id, authorizations[1].id]
        order = await tx.orders.create(
            account_id=account.id,
            profile_id=profile.id,
            identifiers=[{"type": "dns", "value": v} for v in ("c.example", "a.example", "b.example")],
            not_before=NOW,
            not_after=NOW + timedelta(days=30),
            expires_at=NOW + timedelta(days=7),
            authorization_ids=ids,
            replaces="aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
        )
    assert order.authorization_ids == tuple(ids)
    assert order.identifiers[0] == {"type": "dns", "value": "c.example"}
    assert (order.status, order.error, order.certificate_id) == ("pending", None, None)
    async with storage.read() as tx:
        assert await tx.orders.get(order.id) == order
        assert await tx.orders.get("no-such-order") is None


async def test_an_order_without_profile_or_authorizations(storage: Storage) -> None:
    async with storage.transaction() as tx:
        account = await make_account(tx)
        order = await make_order(tx, account.id, authorization_ids=[], status="ready")
    assert order.profile_id is None
    async with storage.read() as tx:
        found = await tx.orders.get(order.id)
    assert found == order
    assert found.authorization_ids == ()


async def test_create_is_two_statements_and_get_one(storage: Storage) -> None:
    async with storage.transaction() as tx:
        account = await make_account(tx)
        authorizations = await make_authorizations(tx, account.id, *(f"{i}.example" for i in range(20)))
    with counting(storage) as counter:
        async with storage.transaction() as tx:
            counter.reset()
            order = await make_order(tx, account.id, authorization_ids=[a.id for a in authorizations])
            assert counter.count == 2
            counter.reset()
            found = await tx.orders.get(order.id)
            assert counter.count == 1
    assert found == order


async def test_orders_are_paged_oldest_first_by_keyset(storage: Storage) -> None:
    async with storage.transaction() as tx:
        account = await make_account(tx)
        other = await make_account(tx)
        await make_order(tx, other.id)
        created = [await make_order(tx, account.id, authorization_ids=[]) for _ in range(25)]
    expected = [o.id for o in sorted(created, key=lambda o: (o.created_at, o.id))]
    pages: list[list[str]] = []
    cursor: str | None = None
    for _ in range(4):
        async with storage.read() as tx:
            page, cursor = await tx.orders.list_for_account(account.id, limit=10, cursor=cursor)
        pages.append(page)
        if cursor is None:
            break
        async with storage.transaction() as tx:  # orders made meanwhile land after, never in a page
            expected.append((await make_order(tx, account.id, authorization_ids=[])).id)
    assert [len(page) for page in pages] == [10, 10, 7]
    assert [i for page in pages for i in page] == expected


async def test_a_page_that_ends_the_list_has_no_cursor(storage: Storage) -> None:
    async with storage.transaction() as tx:
        account = await make_account(tx)
        orders = [await make_order(tx, account.id, authorization_ids=[]) for _ in range(3)]
        ids = [o.id for o in sorted(orders, key=lambda o: (o.created_at, o.id))]
        assert await tx.orders.list_for_account(account.id, limit=3, cursor=None) == (ids, None)
        assert await tx.orders.list_for_account(account.id, limit=2, cursor=None) == (ids[:2], ids[1])
        assert await tx.orders.list_for_account(account.id, limit=2, cursor=ids[1]) == (ids[2:], None)
        assert await tx.orders.list_for_account(account.id, limit=2, cursor="unknown") == ([], None)
        assert await tx.orders.list_for_account("nobody", limit=2, cursor=None) == ([], None)


async def test_set_status_only_from_the_expected_status(storage: Storage) -> None:
    async with storage.transaction() as tx:
        account = await make_account(tx)
        order = await make_order(tx, account.id)
        assert await tx.orders.set_status(order.id, "ready", expected="pending") is True
        assert await tx.orders.set_status(order.id, "ready", expected="pending") is False
        assert await tx.orders.set_status(order.id, "pending", expected=("valid", "invalid")) is False
        assert await tx.orders.set_status(order.id, "invalid", expected=["pending", "ready"]) is True
        found = await tx.orders.get(order.id)
    assert found is not None
    assert found.status == "invalid"
    assert found.updated_at >= order.updated_at


async def test_finalize_has_one_winner_and_only_for_the_owner(storage: Storage) -> None:
    async with storage.transaction() as tx:
        account = await make_account(tx)
        stranger = await make_account(tx)
        order = await make_order(tx, account.id)
        assert await tx.orders.begin_processing(order.id, account.id) is False  # still pending
        assert await tx.orders.set_status(order.id, "ready", expected="pending")
        assert await tx.orders.begin_processing(order.id, stranger.id) is False
        assert await tx.orders.begin_processing(order.id, account.id) is True
        assert await tx.orders.begin_processing(order.id, account.id) is False


async def test_finish_records_the_certificate(storage: Storage) -> None:
    async with storage.transaction() as tx:
        account = await make_account(tx)
        order = await make_order(tx, account.id, status="ready")
        assert await tx.orders.finish(order.id, certificate_id="c") is False  # not processing
        assert await tx.orders.begin_processing(order.id, account.id)
    async with storage.transaction() as tx:
        certificate = await tx.certificates.create(
            ca_id=None,
            profile_id=None,
            serial="01",
            common_name="a.example",
            not_before=NOW,
            not_after=NOW + timedelta(days=1),
            certificate_pem="pem",
            key_algorithm="EC_prime256v1",
            fingerprint_sha256="f",
            enrollment="acme",
            account_id=account.id,
            order_id=order.id,
        )
        assert await tx.orders.finish(order.id, certificate_id=certificate.id) is True
        assert await tx.orders.finish(order.id, certificate_id=certificate.id) is False
        found = await tx.orders.get(order.id)
    assert found is not None
    assert (found.status, found.certificate_id) == ("valid", certificate.id)


async def test_fail_keeps_the_problem_and_never_undoes_a_valid_order(storage: Storage) -> None:
    async with storage.transaction() as tx:
        account = await make_account(tx)
        pending = await make_order(tx, account.id)
        processing = await make_order(tx, account.id, status="processing")
        valid = await make_order(tx, account.id, status="valid")
        assert await tx.orders.fail(pending.id, PROBLEM) is True
        assert await tx.orders.fail(pending.id, PROBLEM) is False
        assert await tx.orders.fail(processing.id, PROBLEM) is True
        assert await tx.orders.fail(valid.id, PROBLEM) is False
        failed = await tx.orders.get(processing.id)
        kept = await tx.orders.get(valid.id)
    assert failed is not None
    assert kept is not None
    assert (failed.status, failed.error) == ("invalid", PROBLEM)
    assert (kept.status, kept.error) == ("valid", None)


async def test_the_orders_of_an_authorization(storage: Storage) -> None:
    async with storage.transaction() as tx:
        account = await make_account(tx)
        shared, alone = await make_authorizations(tx, account.id, "a.example", "b.example")
        first = await make_order(tx, account.id, authorization_ids=[shared.id, alone.id])
        second = await make_order(tx, account.id, authorization_ids=[shared.id])
        assert await tx.orders.ids_for_authorization(shared.id) == sorted([first.id, second.id])
        assert await tx.orders.ids_for_authorization(alone.id) == [first.id]
        assert await tx.orders.ids_for_authorization("nothing") == []


async def test_find_replacing_ignores_invalid_orders(storage: Storage) -> None:
    async with storage.transaction() as tx:
        account = await make_account(tx)
        failed = await make_order(tx, account.id, replaces="cert-1")
        assert await tx.orders.find_replacing("cert-1") == failed.id
        assert await tx.orders.fail(failed.id, PROBLEM)
        assert await tx.orders.find_replacing("cert-1") is None
        retry = await make_order(tx, account.id, replaces="cert-1")
        assert await tx.orders.find_replacing("cert-1") == retry.id
        assert await tx.orders.find_replacing("cert-2") is None


async def test_issue10_2_fail_abandoned_fails_only_orders_processing_past_the_lease(storage: Storage) -> None:
    """Recovery is one conditional UPDATE: an order processing since before the cutoff becomes invalid
    with the problem, once (a second replica's pass fails nothing); a newer one is left to finish."""
    problem = {"type": "urn:ietf:params:acme:error:serverInternal", "detail": "stopped", "status": 500}
    async with storage.transaction() as tx:
        account = await make_account(tx)
        old = await make_order(tx, account.id, status="ready")
        new = await make_order(tx, account.id, status="ready")
        ready = await make_order(tx, account.id, status="ready")
        assert await tx.orders.begin_processing(old.id, account.id, now=NOW - timedelta(minutes=5))
        assert await tx.orders.begin_processing(new.id, account.id, now=NOW)
    async with storage.transaction() as tx:
        assert await tx.orders.fail_abandoned(NOW - timedelta(minutes=1), problem) == 1
        assert await tx.orders.fail_abandoned(NOW - timedelta(minutes=1), problem) == 0
        failed, running, untouched = [await tx.orders.get(o.id) for o in (old, new, ready)]
    assert failed is not None and failed.status == "invalid" and failed.error == problem
    assert failed.processing_started_at == NOW - timedelta(minutes=5)
    assert running is not None and running.status == "processing"
    assert untouched is not None and untouched.status == "ready"
