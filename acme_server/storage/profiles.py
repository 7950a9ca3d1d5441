"""Profiles: named documents saying what a certificate looks like, tied to a CA and a policy."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from acme_server.errors import NotFound
from acme_server.storage.base import ConfigRepository, make_id, utcnow
from acme_server.storage.tables import certificates, profiles


@dataclass(frozen=True, slots=True)
class ProfileRecord:
    id: str
    name: str
    ca_id: str | None
    policy_id: str | None
    document: dict[str, Any]  # every profile setting (ca_core.profile.Profile.to_document)
    created_at: datetime
    updated_at: datetime


class ProfileRepository(ConfigRepository):
    async def create(
        self,
        *,
        name: str,
        document: Mapping[str, Any],
        ca_id: str | None = None,
        policy_id: str | None = None,
    ) -> ProfileRecord:
        now = utcnow()
        statement = (
            insert(profiles)
            .values(
                id=make_id(),
                name=name,
                ca_id=ca_id,
                policy_id=policy_id,
                document=dict(document),
                created_at=now,
                updated_at=now,
            )
            .returning(*profiles.c)
        )
        record = await self._one_or_none(ProfileRecord, statement)
        assert record is not None
        await self._changed()
        return record

    async def get(self, profile_id: str) -> ProfileRecord | None:
        return await self._one_or_none(ProfileRecord, select(profiles).where(profiles.c.id == profile_id))

    async def get_by_name(self, name: str) -> ProfileRecord | None:
        return await self._one_or_none(ProfileRecord, select(profiles).where(profiles.c.name == name))

    async def list(self) -> builtins.list[ProfileRecord]:
        return await self._all(ProfileRecord, select(profiles).order_by(profiles.c.created_at, profiles.c.id))

    async def update(
        self, profile_id: str, *, document: Mapping[str, Any], ca_id: str | None, policy_id: str | None
    ) -> ProfileRecord:
        """Replace the settings (document and the CA and policy it names) and bump updated_at;
        NotFound when there is no such profile."""
        statement = (
            update(profiles)
            .where(profiles.c.id == profile_id)
            .values(document=dict(document), ca_id=ca_id, policy_id=policy_id, updated_at=utcnow())
            .returning(*profiles.c)
        )
        record = await self._one_or_none(ProfileRecord, statement)
        if record is None:
            raise NotFound("profile", profile_id)
        await self._changed()
        return record

    async def delete(self, profile_id: str) -> bool:
        deleted = (await self._execute(delete(profiles).where(profiles.c.id == profile_id))).rowcount == 1
        await self._changed()
        return deleted

    async def count_certificates(self, profile_id: str) -> int:
        """How many certificates were issued under the profile (a profile in use is not deleted)."""
        statement = (
            select(func.count()).select_from(certificates).where(certificates.c.profile_id == profile_id)
        )
        return int((await self._execute(statement)).scalar_one())
