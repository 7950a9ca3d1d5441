"""Policies: named documents saying what may be requested (ca_core.policy validates their content)."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from acme_server.errors import NotFound
from acme_server.storage.base import ConfigRepository, make_id, utcnow
from acme_server.storage.tables import policies


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    id: str
    name: str
    document: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class PolicyRepository(ConfigRepository):
    async def create(self, *, name: str, document: Mapping[str, Any]) -> PolicyRecord:
        now = utcnow()
        statement = (
            insert(policies)
            .values(id=make_id(), name=name, document=dict(document), created_at=now, updated_at=now)
            .returning(*policies.c)
        )
        record = await self._one_or_none(PolicyRecord, statement)
        assert record is not None
        await self._changed()
        return record

    async def get(self, policy_id: str) -> PolicyRecord | None:
        return await self._one_or_none(PolicyRecord, select(policies).where(policies.c.id == policy_id))

    async def get_by_name(self, name: str) -> PolicyRecord | None:
        return await self._one_or_none(PolicyRecord, select(policies).where(policies.c.name == name))

    async def list(self) -> builtins.list[PolicyRecord]:
        return await self._all(PolicyRecord, select(policies).order_by(policies.c.created_at, policies.c.id))

    async def update(self, policy_id: str, *, document: Mapping[str, Any]) -> PolicyRecord:
        """Replace the document and bump updated_at; NotFound when there is no such policy."""
        statement = (
            update(policies)
            .where(policies.c.id == policy_id)
            .values(document=dict(document), updated_at=utcnow())
            .returning(*policies.c)
        )
        record = await self._one_or_none(PolicyRecord, statement)
        if record is None:
            raise NotFound("policy", policy_id)
        await self._changed()
        return record

    async def delete(self, policy_id: str) -> bool:
        deleted = (await self._execute(delete(policies).where(policies.c.id == policy_id))).rowcount == 1
        await self._changed()
        return deleted
