"""ACME orders (RFC 8555 §7.4): newOrder applies the profile's ACME rules (requireEab, allowWildcards,
preAuthorized, authorizationReuse) and policy, and links authorizations; the order as a response shows
it. Finalize is finalize.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from acme_server.errors import (
    AlreadyReplaced,
    Malformed,
    NotFound,
    RejectedIdentifier,
    Subproblem,
    Unauthorized,
)
from acme_server.services import issuance
from acme_server.services.acme import eab
from acme_server.services.acme.accounts import Account, owned
from acme_server.services.acme.authorizations import (
    AuthorizationRules,
    Identifier,
    authorizations_for,
    challenge_types,
)
from acme_server.services.config import catalog, profiles
from acme_server.services.config.catalog import Catalog
from acme_server.services.issuance import Issuer
from acme_server.services.platform import rate_limits
from acme_server.services.ports import ChallengeType
from acme_server.services.renewal import ari
from acme_server.services.runtime import Runtime
from acme_server.statuses import AuthorizationStatus, OrderStatus
from acme_server.storage import OrderRecord, Tx

__all__ = ["NewOrder", "OrderRecord", "OrderView"]
from ca_core.durations import format_duration
from ca_core.errors import UnknownProfile
from ca_core.names import parse_ip
from ca_core.policy import identifier_violations
from ca_core.profile import EnrollmentMethod, IssuerType, Profile

ORDER_LIFETIME = timedelta(days=7)
DEFAULT_PROFILE = "default"


@dataclass(frozen=True)
class OrderView:
    """What an order response shows (RFC 8555 §7.1.3): the stored order, its effective status and its
    profile's name, resolved by the service so the renderer reads nothing more."""

    record: OrderRecord
    status: str  # §7.1.6: pending or ready past its expiry reads invalid
    profile: str | None  # draft-ietf-acme-profiles: the profile's name


def order_view(record: OrderRecord, now: datetime, profile: str | None) -> OrderView:
    return OrderView(record, effective_status(record, now), profile)


async def load_profile(rt: Runtime, ref: str) -> Issuer:
    return acme_profile(await catalog.current(rt), ref)


def acme_profile(configuration: Catalog, ref: str) -> Issuer:
    """Stage 1 of the issuance pipeline for ACME: a profile (by name, or id) that allows ACME
    enrollment, with its policy (the profiles draft: invalidProfile), from the configuration catalog."""
    try:
        issuer = issuance.resolve(configuration, ref)
    except NotFound:
        raise UnknownProfile(f"no profile {ref!r}") from None
    name = issuer.profile.name
    if EnrollmentMethod.ACME not in issuer.profile.enrollment_methods:
        raise UnknownProfile(f"profile {name!r} does not allow ACME enrollment")
    if issuer.profile.issuer_type is not IssuerType.CA:
        raise UnknownProfile(f"profile {name!r} issues self-signed certificates, which ACME cannot")
    return issuer


def _identifier_problems(
    profile: Issuer, identifiers: Sequence[Identifier], rules: AuthorizationRules
) -> list[Subproblem]:
    """One subproblem per identifier the profile refuses: a wildcard where allowWildcards is off, one
    none of its challenge types can validate, or a name or address its policy does not allow."""
    problems: list[Subproblem] = [
        Subproblem(
            "rejectedIdentifier",
            f"profile {profile.profile.name!r} offers no challenge type that can validate"
            f" {i.value} ({', '.join(rules.challenge_types)})",
            i.to_json(),
        )
        for i in identifiers
        if not challenge_types(i, rules.challenge_types) and not rules.grants(i)
    ]
    checked = list(identifiers)
    if not profile.profile.allow_wildcards:
        refused = [i for i in identifiers if i.wildcard]
        checked = [i for i in identifiers if not i.wildcard]
        problems += [
            Subproblem(
                "rejectedIdentifier",
                f"profile {profile.profile.name!r} does not allow wildcard names",
                i.to_json(),
            )
            for i in refused
        ]
    if profile.policy is None:
        return problems
    dns = [i.value for i in checked if i.type == "dns"]
    ips = [i.value for i in checked if i.type == "ip"]
    kinds = {i.value: i for i in checked}
    return problems + [
        Subproblem("rejectedIdentifier", v.describe(), kinds[v.value].to_json() if v.value in kinds else {})
        for v in identifier_violations(profile.policy, dns, [parse_ip(ip) for ip in ips])
    ]


def _check_identifiers(profile: Issuer, identifiers: Sequence[Identifier], rules: AuthorizationRules) -> None:
    """Rule 5: every refused identifier is a subproblem of one rejectedIdentifier (compound if several)."""
    problems = _identifier_problems(profile, identifiers, rules)
    if problems:
        detail = problems[0].detail if len(problems) == 1 else f"{len(problems)} identifiers are not allowed"
        raise RejectedIdentifier(detail, tuple(problems))


async def _authorization_rules(
    rt: Runtime, tx: Tx, account: Account, profile: Issuer, *, max_pending: int
) -> AuthorizationRules:
    """The profile's authorization rules for this account. requireEab: only an account whose external
    account binding covers the profile may order (unauthorized, as Boulder answers an account that
    may not use a profile); preAuthorized names are granted to such accounts only. dns-persist-01 is
    offered only by a server with issuer domain names (--caa-identities) for its records to name."""
    rules = profile.profile
    bound = False
    if rules.require_eab or rules.pre_authorized:
        bound = await eab.is_bound_for(tx, account, profile.id)
    if rules.require_eab and not bound:
        raise Unauthorized(
            f"profile {rules.name!r} requires an account registered with an external account key for it"
        )
    offered = tuple(
        t for t in rules.challenge_types if t != ChallengeType.DNS_PERSIST_01 or rt.issuer_domain_names
    )
    return AuthorizationRules(
        reuse=rules.authorization_reuse,
        pre_authorized=rules.pre_authorized if bound else (),
        max_pending=max_pending,
        challenge_types=offered,
    )


@dataclass(frozen=True)
class NewOrder:
    identifiers: list[Identifier]
    not_before: datetime | None
    not_after: datetime | None
    profile: str | None
    replaces: str | None


# X.509 (RFC 5280 §4.1.2.5) as cryptography writes it: UTCTime from 1950, GeneralizedTime to 9999.
EARLIEST_DATE = datetime(1950, 1, 1, tzinfo=UTC)
LATEST_DATE = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def _check_dates(order: NewOrder) -> None:
    """Dates no certificate can carry are malformed at newOrder, not a 500 at finalize."""
    for name, value in (("notBefore", order.not_before), ("notAfter", order.not_after)):
        if value is not None and not EARLIEST_DATE <= value <= LATEST_DATE:
            raise Malformed(f"{name} {value.isoformat()} is outside what a certificate can carry (1950-9999)")


def _check_validity(profile: Profile, order: NewOrder, now: datetime) -> None:
    """§7.4 notBefore/notAfter: honoured within the profile's limits, refused otherwise."""
    _check_dates(order)
    if order.not_before is not None and order.not_before < now - profile.max_backdate:
        raise Malformed(
            f"notBefore may be at most {format_duration(profile.max_backdate)} in the past"
            f" (profile {profile.name!r}, maxBackdate)"
        )
    start = order.not_before or now
    if order.not_after is not None:
        if order.not_after <= start:
            raise Malformed("notAfter must be later than notBefore")
        if order.not_after - start > profile.max_ttl:
            raise Malformed(
                f"the requested lifetime exceeds the profile maximum of {profile.max_ttl.days} days"
            )
    if order.not_before is not None and order.not_before > now + timedelta(days=30):
        raise Malformed("notBefore may be at most 30 days in the future")


async def new_order(
    rt: Runtime, account: Account, order: NewOrder, *, forced_profile: str | None
) -> OrderView:
    name = forced_profile or order.profile or DEFAULT_PROFILE
    if forced_profile and order.profile and order.profile != forced_profile:
        raise UnknownProfile(f"this directory issues profile {forced_profile!r} only")
    # docs/security.md "Rate limits": counted before any other work, refused attempts included.
    await rate_limits.count_new_order(
        rt, account.id, name, [f"{i.type}:{i.value.removeprefix('*.')}" for i in order.identifiers]
    )
    now = rt.clock.now()
    if order.replaces:  # RFC 9773 §5: a certificate we issued to this account
        await ari.check_replaces(rt, account.id, order.replaces)
    # One transaction: the configuration generation, the checks, then the order (a refused order
    # rolls back having written nothing).
    async with rt.storage.transaction() as tx:
        profile = acme_profile(await catalog.catalog_in(rt, tx), name)
        max_pending = rate_limits.pending_authorizations_allowed(rt, name)
        rules = await _authorization_rules(rt, tx, account, profile, max_pending=max_pending)
        _check_identifiers(profile, order.identifiers, rules)
        _check_validity(profile.profile, order, now)
        if order.replaces and await tx.orders.find_replacing(order.replaces):
            raise AlreadyReplaced(f"certificate {order.replaces!r} is already being replaced")
        # the records as reused or just created: nothing to read back
        authorizations = await authorizations_for(tx, account, order.identifiers, now, rules)
        ready = all(a.status == AuthorizationStatus.VALID for a in authorizations)
        record = await tx.orders.create(
            account_id=account.id,
            profile_id=profile.id,
            identifiers=[i.to_json() for i in order.identifiers],
            not_before=order.not_before,
            not_after=order.not_after,
            expires_at=min([now + ORDER_LIFETIME, *(a.expires_at for a in authorizations)]),
            authorization_ids=[a.id for a in authorizations],
            replaces=order.replaces,
            status=OrderStatus.READY if ready else OrderStatus.PENDING,
        )
    return order_view(record, now, profile.profile.name)


async def get_order(rt: Runtime, account: Account, order_id: str) -> OrderView:
    async with rt.storage.read_one() as tx:  # one statement (the order poll): no transaction
        record = await tx.orders.get(order_id)
    owned(record, account, "order", order_id)
    assert record is not None
    # the name from the per-process cache (a profile is never renamed): no catalog read per poll
    return order_view(record, rt.clock.now(), await profiles.profile_name(rt, record.profile_id))


def effective_status(record: OrderRecord, now: datetime) -> OrderStatus:
    """§7.1.6: an order still pending or ready past its expiry is invalid."""
    if record.status in (OrderStatus.PENDING, OrderStatus.READY) and record.expires_at <= now:
        return OrderStatus.INVALID
    return record.status


async def list_orders(
    rt: Runtime, account: Account, cursor: str | None, limit: int = 100
) -> tuple[list[str], str | None]:
    async with rt.storage.read() as tx:
        return await tx.orders.list_for_account(account.id, limit=limit, cursor=cursor)


async def account_orders(rt: Runtime, account_id: str, limit: int = 50) -> tuple[list[OrderRecord], bool]:
    """The first `limit` orders of an account, oldest first, and whether it has more (the UI's
    account page)."""
    async with rt.storage.read() as tx:
        ids, more = await tx.orders.list_for_account(account_id, limit=limit, cursor=None)
        found = [await tx.orders.get(order_id) for order_id in ids]
    return [record for record in found if record is not None], more is not None
