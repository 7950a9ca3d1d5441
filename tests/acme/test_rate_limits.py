"""Issue 10 part 2, rate limits (services/platform/rate_limits.py, docs/security.md "Rate limits"), each hit
over real HTTP with a small configured limit: 429 `rateLimited` (RFC 8555 §6.7) with Retry-After and
the usual ACME headers, nothing stored for the refused request, and the request passes again once
its window is over."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from acme_server.config import Limit, OrderLimits, RateLimits
from acme_server.services.acme.authorizations import PENDING_LIFETIME
from acme_server.services.acme.orders import DEFAULT_PROFILE
from acme_server.services.platform.rate_limits import Window, window_of
from acme_server.storage.tables import acme_accounts, acme_authorizations, acme_orders
from tests.acme.conftest import AcmeServer, wait_status

ERR = "urn:ietf:params:acme:error:"
WINDOW = 2  # seconds: the tests wait a window out


async def _count(acme: AcmeServer, table: object) -> int:
    async with acme.rt.storage.write_engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


def _assert_rate_limited(response: object, name: str) -> int:
    assert response.status_code == 429  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["type"] == ERR + "rateLimited"
    assert name in body["detail"]
    headers = response.headers  # type: ignore[attr-defined]
    assert "replay-nonce" in headers
    retry_after = int(headers["retry-after"])
    assert 1 <= retry_after <= WINDOW
    return retry_after


async def _fresh_window() -> None:
    """Wait for the start of a window, so the requests of a test fall into one."""
    now = datetime.now(UTC)
    await asyncio.sleep(window_of(Limit(1, WINDOW), now).end - now.timestamp() + 0.05)


def test_a_window_ends_at_the_next_multiple_and_retry_after_counts_to_it() -> None:
    now = datetime.fromtimestamp(1_000_000_007.25, UTC)
    window = window_of(Limit(5, 10), now)
    assert window == Window(1_000_000_000, 1_000_000_010)
    assert window.retry_after(now) == 3  # 2.75 s, rounded up
    assert window.retry_after(datetime.fromtimestamp(1_000_000_009.99, UTC)) == 1  # never 0


@pytest.mark.parametrize(
    "acme_overrides", [{"rate_limits": RateLimits(new_accounts_per_ip=Limit(2, WINDOW))}]
)
async def test_new_accounts_per_ip_are_limited_and_the_existing_account_is_still_found(
    acme: AcmeServer,
) -> None:
    await _fresh_window()
    first = await acme.client()
    assert (await first.register()).status_code == 201
    assert (await (await acme.client()).register()).status_code == 201
    refused = await (third := await acme.client()).register()
    retry_after = _assert_rate_limited(refused, "new_accounts_per_ip")
    assert await _count(acme, acme_accounts) == 2
    assert (await first.register()).status_code == 200  # finding an account creates none: not counted

    await asyncio.sleep(retry_after + 0.1)
    assert (await third.register()).status_code == 201


@pytest.mark.parametrize(
    "acme_overrides",
    [
        {
            "rate_limits": RateLimits(
                new_orders_per_account=Limit(2, WINDOW),
                profiles=(("strict", OrderLimits(new_orders_per_account=1)),),
            )
        }
    ],
)
async def test_new_orders_per_account_are_limited_per_profile(acme: AcmeServer) -> None:
    client = await acme.client()
    await client.register()
    await _fresh_window()
    assert (await client.new_order("a.example.internal")).status_code == 201
    assert (await client.new_order("b.example.internal")).status_code == 201
    refused = await client.new_order("c.example.internal")
    retry_after = _assert_rate_limited(refused, "new_orders_per_account")
    assert await _count(acme, acme_orders) == 2
    other = await acme.client()
    await other.register()
    assert (await other.new_order("d.example.internal")).status_code == 201  # another account's count

    await asyncio.sleep(retry_after + 0.1)
    assert (await client.new_order("c.example.internal")).status_code == 201


@pytest.mark.parametrize(
    "acme_overrides",
    [{"rate_limits": RateLimits(failed_validations_per_identifier=Limit(1, 60)), "challenge_wait": 2.0}],
)
async def test_an_identifier_that_failed_validation_too_often_is_refused_at_new_order(
    acme: AcmeServer,
) -> None:
    client = await acme.client()
    await client.register()
    name = "fails.example.internal"
    acme.resolve(name)  # resolves, but nothing serves the token: http-01 gets a 404
    order = await client.new_order(name)
    authz = (await client.post(order.json()["authorizations"][0])).json()
    challenge = next(c for c in authz["challenges"] if c["type"] == "http-01")
    await client.post(challenge["url"], {})
    await wait_status(client, order.headers["location"], {"invalid"})

    refused = await client.new_order(name)
    assert refused.status_code == 429
    assert refused.json()["type"] == ERR + "rateLimited"
    assert "failed_validations_per_identifier" in refused.json()["detail"]
    assert (await client.new_order("other.example.internal")).status_code == 201


@pytest.mark.parametrize(
    "acme_overrides", [{"rate_limits": RateLimits(pending_authorizations_per_account=3)}]
)
async def test_pending_authorizations_per_account_count_what_new_order_would_create(
    acme: AcmeServer,
) -> None:
    """Let's Encrypt's pendingAuthorizationsPerAccount: newOrder and newAuthz (RFC 8555 §7.4.1) are
    refused while the account's pending authorizations plus the new ones would pass the limit; a
    reused authorization adds none, and a deactivated one (§7.5.2) frees its place at once."""
    client = await acme.client()
    await client.register()
    first = await client.new_order("a.example.internal", "b.example.internal")
    assert first.status_code == 201

    stored = await _count(acme, acme_authorizations)
    refused = await client.new_order("c.example.internal", "d.example.internal")
    assert refused.status_code == 429
    assert refused.json()["type"] == ERR + "rateLimited"
    assert "pending_authorizations_per_account" in refused.json()["detail"]
    assert "replay-nonce" in refused.headers
    # When the first pending authorization expires (RFC 8555 §7.1.6): about PENDING_LIFETIME away.
    retry_after = int(refused.headers["retry-after"])
    assert PENDING_LIFETIME.total_seconds() - 60 <= retry_after <= PENDING_LIFETIME.total_seconds()
    assert await _count(acme, acme_authorizations) == stored
    assert await _count(acme, acme_orders) == 1

    again = await client.new_order("b.example.internal", "a.example.internal")  # both reused
    assert again.status_code == 201
    assert sorted(again.json()["authorizations"]) == sorted(first.json()["authorizations"])
    assert (await client.new_order("c.example.internal")).status_code == 201  # the third place
    pre_authorization = await client.post(
        client.directory["newAuthz"], {"identifier": {"type": "dns", "value": "d.example.internal"}}
    )
    assert pre_authorization.status_code == 429
    assert pre_authorization.json()["type"] == ERR + "rateLimited"

    other = await acme.client()  # another account counts its own
    await other.register()
    assert (await other.new_order("c.example.internal", "d.example.internal")).status_code == 201

    deactivated = await client.post(first.json()["authorizations"][0], {"status": "deactivated"})
    assert deactivated.json()["status"] == "deactivated"
    assert (await client.new_order("d.example.internal")).status_code == 201


@pytest.mark.parametrize(
    "acme_overrides",
    [
        {
            "rate_limits": RateLimits(
                pending_authorizations_per_account=1000,
                profiles=((DEFAULT_PROFILE, OrderLimits(pending_authorizations_per_account=1)),),
            )
        }
    ],
)
async def test_pending_authorizations_per_account_follow_the_profile_override(acme: AcmeServer) -> None:
    client = await acme.client()
    await client.register()
    assert (await client.new_order("a.example.internal")).status_code == 201
    refused = await client.new_order("b.example.internal")
    assert refused.status_code == 429
    assert "pending_authorizations_per_account" in refused.json()["detail"]
    # newAuthz names no profile: the global limit applies to it.
    pre_authorization = await client.post(
        client.directory["newAuthz"], {"identifier": {"type": "dns", "value": "b.example.internal"}}
    )
    assert pre_authorization.status_code == 201
    too_big = await client.new_order("c.example.internal", "d.example.internal")
    assert too_big.status_code == 429
    assert "never fits" in too_big.json()["detail"]
