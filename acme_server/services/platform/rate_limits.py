"""Rate limits (docs/security.md "Rate limits"): which limit an event counts against, its fixed window,
and the Retry-After a refused request gets. Counting is one upsert into the shared, fsync-free counter
store (storage/rate_counters.py), so a limit holds across workers and replicas.

Windows are fixed (aligned to multiples of the window since the epoch): one bucket per key and
window, one statement per counted event, and Retry-After is exactly when the bucket stops counting.
The price is the usual one of fixed windows: up to twice the limit across a window boundary."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from acme_server.config import Limit
from acme_server.errors import RateLimited, Unauthorized
from acme_server.services.access import tokens
from acme_server.services.access.tokens import TokenInfo
from acme_server.services.runtime import Runtime
from acme_server.storage import Tx


@dataclass(frozen=True)
class Window:
    start: int  # seconds since the epoch
    end: int

    def retry_after(self, now: datetime) -> int:
        """Whole seconds until this window is over (at least 1: RFC 9110 §10.2.3 delay-seconds)."""
        return max(1, math.ceil(self.end - now.timestamp()))


def window_of(limit: Limit, now: datetime) -> Window:
    start = math.floor(now.timestamp()) // limit.window * limit.window
    return Window(start, start + limit.window)


async def count(rt: Runtime, what: str, limit: Limit, subject: str, *, allowed: int | None = None) -> None:
    """Count one event of `subject` against `limit` (its count overridden by `allowed`); RateLimited
    once the window holds more than the limit. Limit 0 is off and counts nothing."""
    allowed = limit.limit if allowed is None else allowed
    if allowed <= 0:
        return
    now = rt.clock.now()
    window = window_of(limit, now)
    seen = await rt.storage.rate_counters.add(
        f"{what}:{subject}", window_start=window.start, expires_at=window.end
    )
    if seen > allowed:
        raise _refused(what, allowed, limit, window, now)


async def check(
    rt: Runtime, what: str, limit: Limit, subjects: Sequence[str], *, allowed: int | None = None
) -> None:
    """RateLimited when any of `subjects` already reached the limit in this window (counts nothing:
    the events are counted where they happen)."""
    allowed = limit.limit if allowed is None else allowed
    if allowed <= 0 or not subjects:
        return
    now = rt.clock.now()
    window = window_of(limit, now)
    seen = await rt.storage.rate_counters.peek([f"{what}:{s}" for s in subjects], window_start=window.start)
    if seen >= allowed:
        raise _refused(what, allowed, limit, window, now)


def _refused(what: str, allowed: int, limit: Limit, window: Window, now: datetime) -> RateLimited:
    return RateLimited(
        f"rate limit {what} reached: {allowed} per {limit.window} s; retry after the window ends",
        retry_after=window.retry_after(now),
    )


# The limits, by the name that appears in the problem detail and in docs/security.md.
NEW_ACCOUNTS = "new_accounts_per_ip"
NEW_ORDERS = "new_orders_per_account"
FAILED_VALIDATIONS = "failed_validations_per_identifier"
API_TOKEN_FAILURES = "api_token_failures_per_ip"
UI_SIGNIN_FAILURES = "ui_signin_failures_per_ip"
PENDING_AUTHORIZATIONS = "pending_authorizations_per_account"
# Retry-After when an order alone needs more new authorizations than the limit allows: no wait helps.
UNFIT_RETRY_AFTER = 3600


async def count_new_account(rt: Runtime, client_ip: str | None) -> None:
    if client_ip:
        await count(rt, NEW_ACCOUNTS, rt.rate_limits.new_accounts_per_ip, client_ip)


async def count_new_order(rt: Runtime, account_id: str, profile: str, identifiers: Sequence[str]) -> None:
    """A newOrder of `account_id` for `profile`: counted per account and profile, and refused while
    one of its identifiers failed validation too often for this account."""
    limits = rt.rate_limits
    overrides = limits.for_profile(profile)
    await check(
        rt,
        FAILED_VALIDATIONS,
        limits.failed_validations_per_identifier,
        [f"{account_id}:{i}" for i in identifiers],
        allowed=overrides.failed_validations_per_identifier,
    )
    await count(
        rt,
        NEW_ORDERS,
        limits.new_orders_per_account,
        f"{profile}:{account_id}",
        allowed=overrides.new_orders_per_account,
    )


def pending_authorizations_allowed(rt: Runtime, profile: str | None) -> int:
    """The pending_authorizations_per_account limit for orders of `profile` (None: newAuthz)."""
    override = rt.rate_limits.for_profile(profile).pending_authorizations_per_account if profile else None
    return rt.rate_limits.pending_authorizations_per_account if override is None else override


async def check_pending_authorizations(
    tx: Tx, account_id: str, *, adding: int, allowed: int, now: datetime
) -> None:
    """RateLimited when `adding` new pending authorizations would leave the account holding more
    than `allowed` (0: off). Counted by a query, not a counter: an authorization stops counting the
    moment it is validated, fails, is deactivated (RFC 8555 §7.5.2) or expires. Retry-After is when
    the first pending one expires, the latest moment a place frees up without the client acting."""
    if allowed <= 0 or adding <= 0:
        return
    pending, first_expiry = await tx.authorizations.count_pending(account_id, now=now)
    if pending + adding <= allowed:
        return
    if first_expiry is None or adding > allowed:
        raise RateLimited(
            f"rate limit {PENDING_AUTHORIZATIONS} reached: an order needing {adding} new"
            f" authorizations never fits {allowed}; order fewer identifiers",
            retry_after=UNFIT_RETRY_AFTER,
        )
    raise RateLimited(
        f"rate limit {PENDING_AUTHORIZATIONS} reached: {pending} pending and {adding} more would pass"
        f" {allowed}; complete or deactivate pending authorizations, or retry once the first expires",
        retry_after=max(1, math.ceil((first_expiry - now).total_seconds())),
    )


async def count_failed_validation(rt: Runtime, account_id: str, identifier: str) -> None:
    """Called by the validation worker when a validation fails; never raises RateLimited."""
    limit = rt.rate_limits.failed_validations_per_identifier
    if limit.limit > 0 or any(o.failed_validations_per_identifier for _, o in rt.rate_limits.profiles):
        window = window_of(limit, rt.clock.now())
        await rt.storage.rate_counters.add(
            f"{FAILED_VALIDATIONS}:{account_id}:{identifier}",
            window_start=window.start,
            expires_at=window.end,
        )


async def authenticate_token(rt: Runtime, plaintext: str, *, client_ip: str | None, ui: bool) -> TokenInfo:
    """tokens.authenticate, limited per client IP: each wrong token counts (API and UI sign-in apart),
    and once the limit is reached every attempt is refused before the token is even looked at, so a
    right guess after the limit gets nowhere either."""
    what, limit = (
        (UI_SIGNIN_FAILURES, rt.rate_limits.ui_signin_failures_per_ip)
        if ui
        else (API_TOKEN_FAILURES, rt.rate_limits.api_token_failures_per_ip)
    )
    if client_ip:
        await check(rt, what, limit, [client_ip])
    try:
        return await tokens.authenticate(rt, plaintext)
    except Unauthorized:
        if client_ip:
            await count(rt, what, limit, client_ip)
        raise
