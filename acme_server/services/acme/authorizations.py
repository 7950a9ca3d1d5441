"""ACME authorizations (RFC 8555 §7.5): which challenges an identifier gets, reuse within a window,
pre-authorization (§7.4.1 newAuthz), deactivation, and the status propagated to orders."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from acme_server.errors import Malformed, RejectedIdentifier, Subproblem, UnsupportedIdentifier
from acme_server.services.acme.accounts import Account, owned
from acme_server.services.platform import rate_limits
from acme_server.services.ports import ChallengeType, IdentifierType
from acme_server.services.runtime import Runtime
from acme_server.statuses import AuthorizationStatus
from acme_server.storage import AuthorizationRecord, NewAuthorization, Tx

__all__ = ["AuthorizationRecord", "Identifier"]
from ca_core.errors import InvalidIdentifier
from ca_core.names import dns_pattern_matches, normalize_dns_name, parse_ip
from ca_core.profile import DEFAULT_AUTHORIZATION_REUSE, DEFAULT_CHALLENGE_TYPES

PENDING_LIFETIME = timedelta(days=7)
VALID_LIFETIME = timedelta(days=30)
REUSE_MARGIN = timedelta(days=1)  # a reused authorization must stay valid at least this long
# §7.1.6: the statuses that turn into expired once the expiry passes.
_EXPIRING = frozenset({AuthorizationStatus.PENDING, AuthorizationStatus.VALID})


@dataclass(frozen=True)
class Identifier:
    type: IdentifierType
    value: str  # normalised; a wildcard keeps its "*." prefix here

    @property
    def wildcard(self) -> bool:
        return self.value.startswith("*.")

    @property
    def base(self) -> str:
        """The value an authorization is for (§7.1.3: without the wildcard prefix)."""
        return self.value[2:] if self.wildcard else self.value

    def to_json(self) -> dict[str, str]:
        return {"type": self.type.value, "value": self.value}


MAX_IDENTIFIERS_PER_ORDER = 100  # as Let's Encrypt (docs/security.md "Size limits")


def parse_identifiers(raw: object, *, allow_wildcard: bool = True) -> list[Identifier]:
    """Normalise and de-duplicate; every bad identifier becomes a subproblem of one error."""
    if not isinstance(raw, list) or not raw:
        raise Malformed("identifiers must be a non-empty array")
    if len(raw) > MAX_IDENTIFIERS_PER_ORDER:  # each one is an authorization and three challenges
        raise Malformed(f"an order may name at most {MAX_IDENTIFIERS_PER_ORDER} identifiers, not {len(raw)}")
    found: dict[tuple[str, str], Identifier] = {}
    problems: list[Subproblem] = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            raise Malformed("each identifier needs a type and a string value")
        shown = {key: item[key] for key in ("type", "value") if isinstance(item.get(key), str)}
        if item.get("type") not in SUPPORTED_TYPES:
            problems.append(Subproblem("unsupportedIdentifier", _unsupported(item.get("type")), shown))
            continue
        try:
            identifier = _parse_one(item, allow_wildcard)
        except InvalidIdentifier as exc:
            problems.append(Subproblem("rejectedIdentifier", exc.detail, shown))
            continue
        found.setdefault((identifier.type, identifier.value), identifier)
    if problems and all(p.kind == "unsupportedIdentifier" for p in problems):
        # §6.7: only types we do not issue for: unsupportedIdentifier, not rejectedIdentifier.
        raise UnsupportedIdentifier(_summary(problems), tuple(problems))
    if problems:
        raise RejectedIdentifier(_summary(problems), tuple(problems))
    return list(found.values())


def _summary(problems: Sequence[Subproblem]) -> str:
    if len(problems) == 1:
        return problems[0].detail
    return f"{len(problems)} identifiers were refused"


def _parse_one(item: dict[str, object], allow_wildcard: bool) -> Identifier:
    kind, value = item.get("type"), str(item["value"])
    if kind == "dns":
        name = normalize_dns_name(value)
        if name.startswith("*.") and not allow_wildcard:
            raise InvalidIdentifier(value, "wildcard names are not allowed here")
        return Identifier(IdentifierType.DNS, name)
    if kind == "ip":
        # RFC 8738 §3: the textual form; we store the canonical (compressed) one.
        return Identifier(IdentifierType.IP, str(parse_ip(value)))
    raise InvalidIdentifier(str(kind), _unsupported(kind))


SUPPORTED_TYPES = ("dns", "ip")  # RFC 8555 §9.7.7 dns; RFC 8738 ip


def _unsupported(kind: object) -> str:
    if not isinstance(kind, str):
        return "the identifier has no type; use dns or ip"
    return f"identifier type {kind!r} is not supported; use dns or ip"


# §7.1.3/§8: a wildcard is validated through DNS only (dns-01, and the two DNS drafts, which say
# the same of themselves); an IP address never through DNS (RFC 8738 §7).
_DNS_METHODS = frozenset({ChallengeType.DNS_01, ChallengeType.DNS_ACCOUNT_01, ChallengeType.DNS_PERSIST_01})


def challenge_types(
    identifier: Identifier, offered: Sequence[ChallengeType] = DEFAULT_CHALLENGE_TYPES
) -> tuple[ChallengeType, ...]:
    """The `offered` types (the profile's challengeTypes) that can validate `identifier`."""
    if identifier.wildcard:
        return tuple(t for t in offered if t in _DNS_METHODS)
    if identifier.type is IdentifierType.IP:
        return tuple(t for t in offered if t not in _DNS_METHODS)
    return tuple(offered)


def new_authorization(
    account_id: str,
    identifier: Identifier,
    now: datetime,
    *,
    pre_authorized: bool,
    offered: Sequence[ChallengeType] = DEFAULT_CHALLENGE_TYPES,
) -> NewAuthorization:
    """A pending authorization with one challenge per usable type; or, pre-authorized, one that is
    valid at once and has no challenges (§7.1.4 lists for a valid authorization the challenge that
    was validated, and none was)."""
    return NewAuthorization(
        account_id=account_id,
        identifier_type=identifier.type.value,
        identifier_value=identifier.base,
        wildcard=identifier.wildcard,
        status=AuthorizationStatus.VALID if pre_authorized else AuthorizationStatus.PENDING,
        expires_at=now + (VALID_LIFETIME if pre_authorized else PENDING_LIFETIME),
        pre_authorized=pre_authorized,
        # §8: a token has at least 128 bits of entropy and is base64url.
        challenges=()
        if pre_authorized
        else tuple((t.value, secrets.token_urlsafe(32)) for t in challenge_types(identifier, offered)),
    )


@dataclass(frozen=True)
class AuthorizationRules:
    """What the order's profile says about its authorizations: how long a validation is reused, and
    which DNS names (ca_core.names patterns) are granted without a challenge. The order service
    passes the patterns only for an account whose external account binding covers the profile."""

    reuse: timedelta = DEFAULT_AUTHORIZATION_REUSE
    pre_authorized: tuple[str, ...] = ()
    max_pending: int = 0  # pending_authorizations_per_account (services/platform/rate_limits.py); 0: off
    challenge_types: tuple[ChallengeType, ...] = DEFAULT_CHALLENGE_TYPES  # what new ones offer

    def grants(self, identifier: Identifier) -> bool:
        return identifier.type is IdentifierType.DNS and any(
            dns_pattern_matches(pattern, identifier.value) for pattern in self.pre_authorized
        )


def _proven_at(record: AuthorizationRecord) -> datetime:
    """When control was last shown: the validated challenge's time; creation for a pending or a
    pre-authorized one."""
    validated = [c.validated_at for c in record.challenges if c.validated_at is not None]
    return max(validated, default=record.created_at)


async def _reusable(
    tx: Tx,
    account: Account,
    identifier: Identifier,
    now: datetime,
    rules: AuthorizationRules,
    *,
    granted: bool,
) -> AuthorizationRecord | None:
    """A live authorization of the account for the identifier, proven within the reuse window (none
    when the window is zero). A pre-authorized name reuses only a valid one (so the order is ready)."""
    if not rules.reuse:
        return None
    found = await tx.authorizations.find_reusable(
        account.id,
        identifier.type.value,
        identifier.base,
        identifier.wildcard,
        valid_after=now + REUSE_MARGIN,
    )
    if found is None or _proven_at(found) <= now - rules.reuse:
        return None
    if granted and found.status != AuthorizationStatus.VALID:
        return None
    return found


async def authorizations_for(
    tx: Tx,
    account: Account,
    identifiers: Sequence[Identifier],
    now: datetime,
    rules: AuthorizationRules | None = None,
) -> list[AuthorizationRecord]:
    """One authorization per identifier, in their order: reused when the account has a live one
    proven within the reuse window, else new (valid at once when the rules pre-authorize the name)."""
    rules = rules or AuthorizationRules()
    found: list[AuthorizationRecord | None] = []
    missing: list[NewAuthorization] = []
    for identifier in identifiers:
        granted = rules.grants(identifier)
        reusable = await _reusable(tx, account, identifier, now, rules, granted=granted)
        found.append(reusable)
        if reusable is None:
            missing.append(
                new_authorization(
                    account.id, identifier, now, pre_authorized=granted, offered=rules.challenge_types
                )
            )
    adding = sum(1 for authorization in missing if authorization.status == AuthorizationStatus.PENDING)
    await rate_limits.check_pending_authorizations(
        tx, account.id, adding=adding, allowed=rules.max_pending, now=now
    )
    created = iter(await tx.authorizations.create_many(missing)) if missing else iter(())
    return [record if record is not None else next(created) for record in found]


async def get_authorization(rt: Runtime, account: Account, authorization_id: str) -> AuthorizationRecord:
    async with rt.storage.read_one() as tx:  # one statement (the authorization poll)
        record = await tx.authorizations.get(authorization_id)
    return owned(record, account, "authorization", authorization_id)


def effective_status(record: AuthorizationRecord, now: datetime) -> AuthorizationStatus:
    """§7.1.6: a pending or valid authorization past its expiry is expired."""
    if record.status in _EXPIRING and record.expires_at <= now:
        return AuthorizationStatus.EXPIRED
    return record.status


async def new_authz(rt: Runtime, account: Account, raw_identifier: object) -> AuthorizationRecord:
    """§7.4.1 pre-authorization: one authorization for a dns or ip identifier, never a wildcard."""
    (identifier,) = parse_identifiers([raw_identifier], allow_wildcard=False)
    now = rt.clock.now()
    async with rt.storage.transaction() as tx:
        allowed = rate_limits.pending_authorizations_allowed(rt, None)
        await rate_limits.check_pending_authorizations(tx, account.id, adding=1, allowed=allowed, now=now)
        (record,) = await tx.authorizations.create_many(
            [new_authorization(account.id, identifier, now, pre_authorized=False)]
        )
    return record


async def deactivate(rt: Runtime, account: Account, authorization_id: str) -> AuthorizationRecord:
    """§7.5.2: the client relinquishes an authorization; orders using it become invalid."""
    async with rt.storage.transaction() as tx:
        owned(await tx.authorizations.get(authorization_id), account, "authorization", authorization_id)
        if await tx.authorizations.deactivate(authorization_id):
            await propagate(tx, authorization_id, AuthorizationStatus.DEACTIVATED)
        record = await tx.authorizations.get(authorization_id)
    assert record is not None
    return record


async def propagate(tx: Tx, authorization_id: str, status: AuthorizationStatus) -> None:
    """Carry an authorization's new status to the orders that include it (§7.1.6)."""
    if status == AuthorizationStatus.VALID:
        await tx.orders.ready_when_all_valid(authorization_id)
        return
    for order_id in await tx.orders.ids_for_authorization(authorization_id):
        await tx.orders.fail(
            order_id,
            {
                "type": "urn:ietf:params:acme:error:unauthorized",
                "detail": f"an authorization is {status}",
                "status": 403,
            },
        )
