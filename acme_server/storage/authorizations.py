"""ACME authorizations and their challenges (RFC 8555 §7.1.4, §7.5): created in batches, read back with
their challenges in one query, and moved on by conditional writes; the validation worker claims
'processing' challenges here so that no two workers or replicas validate the same one."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Integer, Row, Select, and_, bindparam, case, func, or_, select, update

from acme_server.statuses import AuthorizationStatus, ChallengeStatus
from acme_server.storage.base import Repository, built_once, inserting, make_id, updating, utcnow
from acme_server.storage.prepared import prepared
from acme_server.storage.tables import acme_authorizations, acme_challenges

_AUTHZ = acme_authorizations
_CHALLENGE = acme_challenges
# Challenge columns in a join with their authorization, labelled apart (both have id, status, ...).
_CHALLENGE_COLUMNS = [column.label(f"challenge_{column.name}") for column in _CHALLENGE.c]


@dataclass(frozen=True, slots=True)
class ChallengeRecord:
    id: str
    authorization_id: str
    type: str  # 'http-01' | 'dns-01' | 'tls-alpn-01'
    token: str
    status: ChallengeStatus
    validated_at: datetime | None
    error: dict[str, Any] | None  # the problem document of a failed validation
    processing_started_at: datetime | None  # when a worker claimed it; None: queued
    attempts: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AuthorizationRecord:
    id: str
    account_id: str
    identifier_type: str  # 'dns' | 'ip'
    identifier_value: str
    wildcard: bool
    status: AuthorizationStatus
    expires_at: datetime
    pre_authorized: bool
    created_at: datetime
    challenges: tuple[ChallengeRecord, ...]  # ordered by type


@dataclass(frozen=True, slots=True)
class NewAuthorization:
    """What create_many() stores: one authorization and its challenges as (type, token) pairs."""

    account_id: str
    identifier_type: str
    identifier_value: str
    wildcard: bool
    status: AuthorizationStatus
    expires_at: datetime
    pre_authorized: bool
    challenges: tuple[tuple[str, str], ...]


def _expected(
    status: AuthorizationStatus | Sequence[AuthorizationStatus],
) -> tuple[AuthorizationStatus, ...]:
    return (status,) if isinstance(status, str) else tuple(status)


def _with_challenges(authorizations: Select[Any]) -> Select[Any]:
    """The selected authorizations (a subquery of acme_authorizations rows) joined with their
    challenges: one row per challenge, or one with NULL challenge columns."""
    found = authorizations.subquery()
    return (
        select(found, *_CHALLENGE_COLUMNS)
        .outerjoin(_CHALLENGE, _CHALLENGE.c.authorization_id == found.c.id)
        .order_by(found.c.id, _CHALLENGE.c.type)
    )


# The hot reads, built once (statement construction costs more than SQLAlchemy's compiled cache saves).
_GET_AUTHORIZATION: Final = prepared(_with_challenges(select(_AUTHZ).where(_AUTHZ.c.id == bindparam("id"))))
_GET_AUTHORIZATIONS: Final = prepared(
    _with_challenges(select(_AUTHZ).where(_AUTHZ.c.id.in_(bindparam("ids", expanding=True))))
)
_GET_CHALLENGE_WITH_AUTHORIZATION: Final = prepared(
    _with_challenges(
        select(_AUTHZ).where(
            _AUTHZ.c.id
            == select(_CHALLENGE.c.authorization_id)
            .where(_CHALLENGE.c.id == bindparam("id"))
            .scalar_subquery()
        )
    )
)


_FIND_REUSABLE: Final = prepared(
    _with_challenges(
        select(_AUTHZ)
        .where(
            _AUTHZ.c.account_id == bindparam("account_id"),
            _AUTHZ.c.identifier_type == bindparam("identifier_type"),
            _AUTHZ.c.identifier_value == bindparam("identifier_value"),
            _AUTHZ.c.wildcard == bindparam("wildcard"),
            _AUTHZ.c.status.in_((AuthorizationStatus.VALID, AuthorizationStatus.PENDING)),
            _AUTHZ.c.expires_at > bindparam("valid_after"),
        )
        .order_by(
            case((_AUTHZ.c.status == AuthorizationStatus.VALID, 0), else_=1),
            _AUTHZ.c.created_at.desc(),
            _AUTHZ.c.id,
        )
        .limit(1)
    )
)
# An account's live pending authorizations (the pending_authorizations_per_account limit): how many,
# and when the first of them expires, from ix_acme_authorizations_pending alone (migration 0021).
_COUNT_PENDING: Final = prepared(
    select(func.count(), func.min(_AUTHZ.c.expires_at)).where(
        _AUTHZ.c.account_id == bindparam("account_id"),
        _AUTHZ.c.status == AuthorizationStatus.PENDING,
        _AUTHZ.c.expires_at > bindparam("now"),
    )
)
_BEGIN_PROCESSING: Final = prepared(
    update(_CHALLENGE)
    .where(_CHALLENGE.c.id == bindparam("w_id"), _CHALLENGE.c.status == ChallengeStatus.PENDING)
    .values(status=ChallengeStatus.PROCESSING, processing_started_at=None)
)
_COMPLETE: Final = prepared(
    updating(
        _CHALLENGE,
        and_(_CHALLENGE.c.id == bindparam("w_id"), _CHALLENGE.c.status == ChallengeStatus.PROCESSING),
        ["status", "validated_at", "error"],
    )
)


def _claim_due() -> Any:
    c = _CHALLENGE.c
    due = (
        c.status == ChallengeStatus.PROCESSING,
        or_(c.processing_started_at.is_(None), c.processing_started_at < bindparam("stale_before")),
    )
    candidates = (
        select(c.id)
        .where(*due)
        .order_by(c.processing_started_at.nulls_first(), c.created_at, c.id)
        .limit(bindparam("limit", type_=Integer))
        .with_for_update(skip_locked=True)
        .cte("due")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    return (
        update(_CHALLENGE)
        .where(c.id.in_(select(candidates.c.id)), *due)
        .values(processing_started_at=bindparam("now"), attempts=c.attempts + 1)
        .returning(*_CHALLENGE.c)
    )


_CLAIM_DUE: Final = prepared(_claim_due())


def _challenge_from_join(mapping: Any) -> ChallengeRecord | None:
    if mapping["challenge_id"] is None:
        return None
    return ChallengeRecord(**{column.name: mapping[f"challenge_{column.name}"] for column in _CHALLENGE.c})


def _group(rows: Iterable[Row[Any]]) -> dict[str, AuthorizationRecord]:
    """Authorizations by id from joined rows (rows of one authorization are adjacent)."""
    columns = [column.name for column in _AUTHZ.c]
    values: dict[str, dict[str, Any]] = {}
    challenges: dict[str, list[ChallengeRecord]] = {}
    for row in rows:
        mapping = row._mapping
        authorization_id = mapping["id"]
        if authorization_id not in values:
            values[authorization_id] = {name: mapping[name] for name in columns}
            challenges[authorization_id] = []
        challenge = _challenge_from_join(mapping)
        if challenge is not None:
            challenges[authorization_id].append(challenge)
    return {
        key: AuthorizationRecord(**fields, challenges=tuple(challenges[key]))
        for key, fields in values.items()
    }


def _new_rows(
    items: Sequence[NewAuthorization], now: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Insert parameters for the authorizations and for their challenges."""
    authorizations: list[dict[str, Any]] = []
    challenges: list[dict[str, Any]] = []
    for item in items:
        authorization_id = make_id()
        authorizations.append(
            {
                "id": authorization_id,
                "account_id": item.account_id,
                "identifier_type": item.identifier_type,
                "identifier_value": item.identifier_value,
                "wildcard": item.wildcard,
                "status": item.status,
                "expires_at": item.expires_at,
                "pre_authorized": item.pre_authorized,
                "created_at": now,
            }
        )
        for challenge_type, token in sorted(item.challenges):
            challenges.append(
                {
                    "id": make_id(),
                    "authorization_id": authorization_id,
                    "type": challenge_type,
                    "token": token,
                    "status": ChallengeStatus.PENDING,
                    "validated_at": None,
                    "error": None,
                    "processing_started_at": None,
                    "attempts": 0,
                    "created_at": now,
                }
            )
    return authorizations, challenges


class AuthorizationRepository(Repository):
    async def create_many(self, items: Sequence[NewAuthorization]) -> list[AuthorizationRecord]:
        """Store the authorizations and their 'pending' challenges: two executemany statements however
        many there are. The records come back in the order of `items`."""
        if not items:
            return []
        authorizations, challenges = _new_rows(items, utcnow())
        await self._execute(inserting(_AUTHZ), authorizations)
        if challenges:
            await self._execute(inserting(_CHALLENGE), challenges)
        by_authorization: dict[str, list[ChallengeRecord]] = {row["id"]: [] for row in authorizations}
        for challenge in challenges:
            by_authorization[challenge["authorization_id"]].append(ChallengeRecord(**challenge))
        return [
            AuthorizationRecord(**row, challenges=tuple(by_authorization[row["id"]]))
            for row in authorizations
        ]

    async def get(self, authorization_id: str) -> AuthorizationRecord | None:
        """The authorization with its challenges, in one query."""
        rows = await self._execute(_GET_AUTHORIZATION, {"id": authorization_id})
        return _group(rows).get(authorization_id)

    async def get_many(self, authorization_ids: Sequence[str]) -> list[AuthorizationRecord]:
        """The authorizations that exist, in the order of `authorization_ids`, with their challenges:
        one query however many (an order's authorizations, RFC 8555 §7.1.3)."""
        if not authorization_ids:
            return []
        found = _group(await self._execute(_GET_AUTHORIZATIONS, {"ids": sorted(set(authorization_ids))}))
        return [found[key] for key in authorization_ids if key in found]

    async def find_reusable(
        self,
        account_id: str,
        identifier_type: str,
        identifier_value: str,
        wildcard: bool,
        *,
        valid_after: datetime,
    ) -> AuthorizationRecord | None:
        """An authorization of the account for the identifier that a new order may reuse: 'valid' or
        'pending', not expiring before `valid_after`; a valid one first, then the newest. One query."""
        parameters = {
            "account_id": account_id,
            "identifier_type": identifier_type,
            "identifier_value": identifier_value,
            "wildcard": wildcard,
            "valid_after": valid_after,
        }
        found = _group(await self._execute(_FIND_REUSABLE, parameters))
        return next(iter(found.values()), None)

    async def count_pending(self, account_id: str, *, now: datetime) -> tuple[int, datetime | None]:
        """How many of the account's authorizations are pending and not expired at `now`, and the
        earliest expiry among them (None for none). One query."""
        row = (await self._execute(_COUNT_PENDING, {"account_id": account_id, "now": now})).first()
        assert row is not None  # an aggregate has one row
        count, first_expiry = tuple(row)
        return int(count), first_expiry

    async def set_status(
        self,
        authorization_id: str,
        status: AuthorizationStatus,
        *,
        expected: AuthorizationStatus | Sequence[AuthorizationStatus],
        expires_at: datetime | None = None,
    ) -> bool:
        """Move to `status` only from one of `expected`; False for the loser of a race (rule 6).
        `expires_at` also moves the expiry (a validated authorization lives longer than a pending one)."""
        values: dict[str, object] = {"v_status": status}
        if expires_at is not None:
            values["v_expires_at"] = expires_at
        expected_statuses = _expected(expected)
        statement = built_once(
            ("authorization status", expected_statuses, expires_at is None),
            lambda: updating(
                _AUTHZ,
                and_(_AUTHZ.c.id == bindparam("w_id"), _AUTHZ.c.status.in_(expected_statuses)),
                [key.removeprefix("v_") for key in values],
            ),
        )
        return (await self._execute(statement, {"w_id": authorization_id, **values})).rowcount == 1

    async def deactivate(self, authorization_id: str) -> bool:
        """'pending' or 'valid' -> 'deactivated' (RFC 8555 §7.5.2)."""
        return await self.set_status(
            authorization_id,
            AuthorizationStatus.DEACTIVATED,
            expected=(AuthorizationStatus.PENDING, AuthorizationStatus.VALID),
        )


class ChallengeRepository(Repository):
    async def get(self, challenge_id: str) -> ChallengeRecord | None:
        return await self._one_or_none(
            ChallengeRecord, select(_CHALLENGE).where(_CHALLENGE.c.id == challenge_id)
        )

    async def get_with_authorization(
        self, challenge_id: str
    ) -> tuple[ChallengeRecord, AuthorizationRecord] | None:
        """The challenge and its authorization (with all its challenges), in one query."""
        found = _group(await self._execute(_GET_CHALLENGE_WITH_AUTHORIZATION, {"id": challenge_id}))
        for authorization in found.values():
            for challenge in authorization.challenges:
                if challenge.id == challenge_id:
                    return challenge, authorization
        return None

    async def begin_processing(self, challenge_id: str) -> bool:
        """'pending' -> 'processing', queued for the validation worker (RFC 8555 §7.5.1); False when the
        client already responded to it, so one response queues one validation."""
        return (await self._execute(_BEGIN_PROCESSING, {"w_id": challenge_id})).rowcount == 1

    async def claim_due(self, *, now: datetime, stale_after: timedelta, limit: int) -> list[ChallengeRecord]:
        """Claim up to `limit` challenges to validate: queued ones, and those whose claim is older than
        `stale_after` (the worker that took it died). One WITH ... UPDATE ... RETURNING stamps them now
        and counts the attempt. PostgreSQL: the candidates are picked once (a MATERIALIZED CTE: as a
        plain IN (... LIMIT) subquery the planner may rescan it and claim more than `limit`) with FOR
        UPDATE SKIP LOCKED, passing over rows a concurrent claimer holds; the repeated conditions make
        a row another claimer just took fail the re-check. SQLite: BEGIN IMMEDIATE serialises claimers."""
        parameters = {"stale_before": now - stale_after, "now": now, "limit": limit}
        claimed = await self._all(ChallengeRecord, _CLAIM_DUE, parameters)
        return sorted(claimed, key=lambda challenge: (challenge.created_at, challenge.id))

    async def complete(
        self,
        challenge_id: str,
        *,
        status: ChallengeStatus,
        validated_at: datetime | None,
        error: dict[str, Any] | None,
    ) -> bool:
        """'processing' -> 'valid' or 'invalid' with the outcome; False when it was not processing (a
        stale worker finishing after another took its claim over and finished first)."""
        parameters = {
            "w_id": challenge_id,
            "v_status": status,
            "v_validated_at": validated_at,
            "v_error": error,
        }
        return (await self._execute(_COMPLETE, parameters)).rowcount == 1
