"""ACME orders (RFC 8555 §7.1.3, §7.4): the order row with its authorization links, read back in one
query; every status change is a conditional write that reports whether it won."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Row, and_, bindparam, exists, func, or_, select, update

from acme_server.statuses import AuthorizationStatus, OrderStatus
from acme_server.storage.base import Repository, built_once, inserting, make_id, updating, utcnow
from acme_server.storage.prepared import prepared
from acme_server.storage.tables import acme_authorizations, acme_order_authorizations, acme_orders

_LINKS = acme_order_authorizations
_UNFINISHED = (OrderStatus.PENDING, OrderStatus.READY, OrderStatus.PROCESSING)


@dataclass(frozen=True, slots=True)
class OrderRecord:
    id: str
    account_id: str
    profile_id: str | None
    status: OrderStatus
    identifiers: tuple[dict[str, str], ...]  # {"type": "dns", "value": "a.example"}
    not_before: datetime | None
    not_after: datetime | None
    expires_at: datetime
    error: dict[str, Any] | None  # the problem document of a failed order
    certificate_id: str | None
    replaces: str | None  # ARI: the certificate this order renews
    created_at: datetime
    updated_at: datetime
    processing_started_at: datetime | None  # when finalize moved it to processing
    authorization_ids: tuple[str, ...]  # in the order given at creation


def _record(rows: Sequence[Row[Any]]) -> OrderRecord:
    """One order from its joined rows (one per authorization, or one with a NULL link)."""
    values = {column.name: rows[0]._mapping[column] for column in acme_orders.c}
    values["identifiers"] = tuple(values["identifiers"])
    links = tuple(row._mapping[_LINKS.c.authorization_id] for row in rows)
    return OrderRecord(**values, authorization_ids=links if links[0] is not None else ())


def _expected(status: OrderStatus | Sequence[OrderStatus]) -> tuple[OrderStatus, ...]:
    return (status,) if isinstance(status, str) else tuple(status)


# Built once: the order poll is the most frequent ACME read.
_GET_ORDER: Final = prepared(
    select(acme_orders, _LINKS.c.authorization_id)
    .outerjoin(_LINKS, _LINKS.c.order_id == acme_orders.c.id)
    .where(acme_orders.c.id == bindparam("id"))
    .order_by(_LINKS.c.position)
)


_BEGIN_PROCESSING: Final = prepared(
    update(acme_orders)
    .where(
        acme_orders.c.id == bindparam("w_id"),
        acme_orders.c.account_id == bindparam("w_account_id"),
        acme_orders.c.status == OrderStatus.READY,
    )
    .values(
        status=OrderStatus.PROCESSING,
        processing_started_at=bindparam("v_started"),
        updated_at=bindparam("v_now"),
    )
)
_IDS_FOR_AUTHORIZATION: Final = prepared(
    select(_LINKS.c.order_id).where(_LINKS.c.authorization_id == bindparam("id")).order_by(_LINKS.c.order_id)
)

# An authorization became valid: each pending order that includes it and has no authorization left
# that is not valid becomes ready, in one statement (§7.1.6).
_READY_WHEN_ALL_VALID: Final = prepared(
    update(acme_orders)
    .where(
        acme_orders.c.status == OrderStatus.PENDING,
        acme_orders.c.id.in_(
            select(_LINKS.c.order_id).where(_LINKS.c.authorization_id == bindparam("authorization_id"))
        ),
        ~exists(
            select(_LINKS.c.order_id)
            .select_from(
                _LINKS.join(acme_authorizations, acme_authorizations.c.id == _LINKS.c.authorization_id)
            )
            .where(
                _LINKS.c.order_id == acme_orders.c.id,
                acme_authorizations.c.status != AuthorizationStatus.VALID,
            )
        ),
    )
    .values(status=OrderStatus.READY, updated_at=bindparam("now"))
)


class OrderRepository(Repository):
    async def create(
        self,
        *,
        account_id: str,
        profile_id: str | None,
        identifiers: Sequence[Mapping[str, str]],
        not_before: datetime | None,
        not_after: datetime | None,
        expires_at: datetime,
        authorization_ids: Sequence[str],
        replaces: str | None = None,
        status: OrderStatus = OrderStatus.PENDING,
    ) -> OrderRecord:
        """The order and its authorization links: two statements (the links in one executemany)."""
        now = utcnow()
        values: dict[str, Any] = {
            "id": make_id(),
            "account_id": account_id,
            "profile_id": profile_id,
            "status": status,
            "identifiers": [dict(identifier) for identifier in identifiers],
            "not_before": not_before,
            "not_after": not_after,
            "expires_at": expires_at,
            "error": None,
            "certificate_id": None,
            "replaces": replaces,
            "created_at": now,
            "updated_at": now,
            "processing_started_at": None,
        }
        await self._execute(inserting(acme_orders), values)
        if authorization_ids:
            links = [
                {"order_id": values["id"], "authorization_id": authorization_id, "position": position}
                for position, authorization_id in enumerate(authorization_ids)
            ]
            await self._execute(inserting(_LINKS), links)
        values["identifiers"] = tuple(values["identifiers"])
        return OrderRecord(**values, authorization_ids=tuple(authorization_ids))

    async def get(self, order_id: str) -> OrderRecord | None:
        """The order with its authorization ids, in one query."""
        rows = (await self._execute(_GET_ORDER, {"id": order_id})).all()
        return _record(rows) if rows else None

    async def list_for_account(
        self, account_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[str], str | None]:
        """One page of the account's order ids, oldest first (RFC 8555 §7.1.2.1), and the cursor of the
        next page (None on the last). Keyset paging on (created_at, id): orders made meanwhile neither
        shift nor repeat a page. The cursor is the last id of the previous page; an unknown one ends
        the list."""
        c = acme_orders.c
        statement = (
            select(c.id).where(c.account_id == account_id).order_by(c.created_at, c.id).limit(limit + 1)
        )
        if cursor is not None:
            after = select(c.created_at).where(c.id == cursor, c.account_id == account_id).scalar_subquery()
            statement = statement.where(or_(c.created_at > after, and_(c.created_at == after, c.id > cursor)))
        ids = list((await self._execute(statement)).scalars())
        if len(ids) > limit:
            return ids[:limit], ids[limit - 1]
        return ids, None

    async def _transition(self, order_id: str, expected: Sequence[OrderStatus], **values: Any) -> bool:
        columns = ("updated_at", *sorted(values))
        expected_statuses = tuple(expected)
        statement = built_once(
            ("order transition", expected_statuses, columns),
            lambda: updating(
                acme_orders,
                and_(acme_orders.c.id == bindparam("w_id"), acme_orders.c.status.in_(expected_statuses)),
                columns,
            ),
        )
        parameters = {"w_id": order_id, "v_updated_at": utcnow(), **{f"v_{k}": v for k, v in values.items()}}
        return (await self._execute(statement, parameters)).rowcount == 1

    async def set_status(
        self, order_id: str, status: OrderStatus, *, expected: OrderStatus | Sequence[OrderStatus]
    ) -> bool:
        """Move to `status` only from one of `expected`; False for the loser of a race (rule 6)."""
        return await self._transition(order_id, _expected(expected), status=status)

    async def begin_processing(self, order_id: str, account_id: str, *, now: datetime | None = None) -> bool:
        """'ready' -> 'processing' for the account's own order, noting when (the lease recovery
        measures from it): of two finalize requests racing, one wins (RFC 8555 §7.4); False for the
        other, for an order not ready, or another account's order."""
        started = now or utcnow()
        parameters = {"w_id": order_id, "w_account_id": account_id, "v_started": started, "v_now": utcnow()}
        return (await self._execute(_BEGIN_PROCESSING, parameters)).rowcount == 1

    async def fail_abandoned(self, started_before: datetime, error: dict[str, Any]) -> int:
        """Every order still 'processing' that began before `started_before` -> 'invalid' with
        `error`; the number failed. One conditional UPDATE: replicas recovering at once fail each order
        once, and a finalize that finishes meanwhile wins (its 'processing' -> 'valid' or this, never
        both). Rows from before the column existed are measured from updated_at."""
        c = acme_orders.c
        started = func.coalesce(c.processing_started_at, c.updated_at)
        statement = (
            update(acme_orders)
            .where(c.status == OrderStatus.PROCESSING, started < started_before)
            .values(status=OrderStatus.INVALID, error=error, updated_at=utcnow())
        )
        return int((await self._execute(statement)).rowcount)

    async def finish(self, order_id: str, *, certificate_id: str) -> bool:
        """'processing' -> 'valid' with the issued certificate."""
        return await self._transition(
            order_id, (OrderStatus.PROCESSING,), status=OrderStatus.VALID, certificate_id=certificate_id
        )

    async def fail(self, order_id: str, error: dict[str, Any]) -> bool:
        """Any unfinished status -> 'invalid', keeping the problem document on the row (rule 6)."""
        return await self._transition(order_id, _UNFINISHED, status=OrderStatus.INVALID, error=error)

    async def ready_when_all_valid(self, authorization_id: str) -> int:
        """After `authorization_id` became valid: its pending orders whose authorizations are all
        valid now -> 'ready'; how many moved."""
        parameters = {"authorization_id": authorization_id, "now": utcnow()}
        return (await self._execute(_READY_WHEN_ALL_VALID, parameters)).rowcount

    async def ids_for_authorization(self, authorization_id: str) -> list[str]:
        """The orders that include the authorization, whose status its outcome moves forward."""
        return list((await self._execute(_IDS_FOR_AUTHORIZATION, {"id": authorization_id})).scalars())

    async def find_replacing(self, certificate_id: str) -> str | None:
        """An order, not invalid, that replaces the certificate (draft-ietf-acme-ari: alreadyReplaced)."""
        statement = (
            select(acme_orders.c.id)
            .where(acme_orders.c.replaces == certificate_id, acme_orders.c.status != OrderStatus.INVALID)
            .order_by(acme_orders.c.created_at, acme_orders.c.id)
            .limit(1)
        )
        found: str | None = (await self._execute(statement)).scalar()
        return found
