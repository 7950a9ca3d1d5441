"""The audit log: rows inserted in the transaction of the change they record, read newest first."""

from __future__ import annotations

import builtins
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, or_, select

from acme_server.storage.base import Repository
from acme_server.storage.tables import audit_events


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: str
    at: datetime
    actor_kind: str
    actor_name: str
    actor_id: str | None
    action: str
    target_kind: str
    target_id: str | None
    detail: dict[str, Any]
    request_id: str | None


@dataclass(frozen=True)
class AuditFilter:
    """What `list` keeps: all the given conditions hold."""

    since: datetime | None = None  # at or after
    actor: str | None = None  # the actor's name or id
    action: str | None = None  # an action (ca.create) or its resource (ca: every ca.* action)
    target: str | None = None  # the target's id, or its kind (profile)


def audit_values(row: AuditRecord) -> dict[str, Any]:
    """The row's columns (for INSERT, here and in a restore's own transaction)."""
    return {column.name: getattr(row, column.name) for column in fields(row)}


def _conditions(query: AuditFilter) -> list[ColumnElement[bool]]:
    c = audit_events.c
    conditions: list[ColumnElement[bool]] = []
    if query.since is not None:
        conditions.append(c.at >= query.since)
    if query.actor is not None:
        conditions.append(or_(c.actor_name == query.actor, c.actor_id == query.actor))
    if query.action is not None:
        # A resource prefix matches its actions by range: no LIKE, whose wildcards an input could hold.
        prefix = query.action + "."
        conditions.append(
            or_(c.action == query.action, (c.action >= prefix) & (c.action < prefix[:-1] + "/"))
        )
    if query.target is not None:
        conditions.append(or_(c.target_id == query.target, c.target_kind == query.target))
    return conditions


class AuditRepository(Repository):
    async def insert(self, row: AuditRecord) -> None:
        await self._execute(insert(audit_events).values(**audit_values(row)))

    async def delete_before(self, before: datetime) -> int:
        """Delete the events older than `before` (retention); how many were deleted."""
        result = await self._execute(delete(audit_events).where(audit_events.c.at < before))
        return int(result.rowcount or 0)

    async def list(
        self, query: AuditFilter, *, limit: int = 50, offset: int = 0
    ) -> tuple[builtins.list[AuditRecord], int]:
        """One page, newest first, and the total number matching the filter."""
        conditions = _conditions(query)
        c = audit_events.c
        page = (
            select(audit_events)
            .where(*conditions)
            .order_by(c.at.desc(), c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        total = select(func.count()).select_from(audit_events).where(*conditions)
        records = await self._all(AuditRecord, page)
        return records, int((await self._execute(total)).scalar_one())
