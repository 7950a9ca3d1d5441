"""Syncs: a certificate (followed across renewals) or a profile's newest certificate bound to a
destination, with its configuration, sealed secrets, destination state and last push outcome."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import bindparam, delete, insert, or_, select, update

from acme_server.statuses import SyncStatus
from acme_server.storage.base import Repository, make_id, utcnow
from acme_server.storage.prepared import prepared
from acme_server.storage.tables import syncs


@dataclass(frozen=True, slots=True)
class SyncRecord:
    id: str
    name: str
    certificate_id: str | None  # exactly one of certificate_id and profile_id is set
    profile_id: str | None
    destination_type: str
    destination_config: dict[str, Any]
    sealed_secrets: bytes | None
    destination_state: dict[str, Any]
    last_status: SyncStatus
    last_error: str | None
    last_run_at: datetime | None
    last_certificate_id: str | None
    created_at: datetime
    updated_at: datetime
    push_due_at: datetime | None = None  # a push is queued since then


# Built once: every issuance queues its pushes with one of these (services/delivery/syncs.py pending_pushes).
_FOR_CERTIFICATE = syncs.c.certificate_id == bindparam("w_certificate_id")
_QUEUE_FOR_CERTIFICATE: Final = prepared(
    update(syncs).where(_FOR_CERTIFICATE).values(push_due_at=bindparam("v_at")).returning(syncs.c.id)
)
_QUEUE_FOR_CERTIFICATE_OR_PROFILE: Final = prepared(
    update(syncs)
    .where(or_(_FOR_CERTIFICATE, syncs.c.profile_id == bindparam("w_profile_id")))
    .values(push_due_at=bindparam("v_at"))
    .returning(syncs.c.id)
)


class SyncRepository(Repository):
    async def create(
        self,
        *,
        name: str,
        destination_type: str,
        destination_config: Mapping[str, Any],
        certificate_id: str | None = None,
        profile_id: str | None = None,
        sealed_secrets: bytes | None = None,
    ) -> SyncRecord:
        now = utcnow()
        statement = (
            insert(syncs)
            .values(
                id=make_id(),
                name=name,
                certificate_id=certificate_id,
                profile_id=profile_id,
                destination_type=destination_type,
                destination_config=dict(destination_config),
                sealed_secrets=sealed_secrets,
                destination_state={},
                last_status=SyncStatus.NEVER,
                last_error=None,
                last_run_at=None,
                last_certificate_id=None,
                created_at=now,
                updated_at=now,
            )
            .returning(*syncs.c)
        )
        record = await self._one_or_none(SyncRecord, statement)
        assert record is not None
        return record

    async def get(self, sync_id: str) -> SyncRecord | None:
        return await self._one_or_none(SyncRecord, select(syncs).where(syncs.c.id == sync_id))

    async def get_by_name(self, name: str) -> SyncRecord | None:
        return await self._one_or_none(SyncRecord, select(syncs).where(syncs.c.name == name))

    async def list(
        self, *, certificate_id: str | None = None, profile_id: str | None = None
    ) -> builtins.list[SyncRecord]:
        """By name; narrowed to one certificate's or one profile's syncs when given."""
        statement = select(syncs).order_by(syncs.c.name)
        if certificate_id is not None:
            statement = statement.where(syncs.c.certificate_id == certificate_id)
        if profile_id is not None:
            statement = statement.where(syncs.c.profile_id == profile_id)
        return await self._all(SyncRecord, statement)

    async def queue_pushes_for_issued(
        self, certificate_id: str, profile_id: str | None, *, at: datetime
    ) -> builtins.list[str]:
        """Queue a push to every sync a newly issued certificate concerns (bound to it, or to its
        profile's latest); their ids. One statement, inside the transaction that stored it."""
        statement = _QUEUE_FOR_CERTIFICATE if profile_id is None else _QUEUE_FOR_CERTIFICATE_OR_PROFILE
        parameters = {"w_certificate_id": certificate_id, "v_at": at}
        if profile_id is not None:
            parameters["w_profile_id"] = profile_id
        return [row[0] for row in await self._execute(statement, parameters)]

    async def due_pushes(self, *, limit: int, now: datetime | None = None) -> builtins.list[str]:
        """Syncs with a queued push, the longest waiting first; with `now`, only those due by then (a
        failed push retried later is queued in the future)."""
        statement = (
            select(syncs.c.id)
            .where(syncs.c.push_due_at.is_not(None))
            .order_by(syncs.c.push_due_at, syncs.c.id)
            .limit(limit)
        )
        if now is not None:
            statement = statement.where(syncs.c.push_due_at <= now)
        return [row[0] for row in await self._execute(statement)]

    async def clear_push(self, sync_id: str, *, queued_at: datetime) -> bool:
        """A push that began after `queued_at` finished: unqueue, unless a newer push was queued since."""
        statement = (
            update(syncs)
            .where(syncs.c.id == sync_id, syncs.c.push_due_at <= queued_at)
            .values(push_due_at=None)
        )
        return (await self._execute(statement)).rowcount == 1

    async def retry_push(self, sync_id: str, *, queued_at: datetime, retry_at: datetime) -> bool:
        """A queued push failed: queue it again for `retry_at`, unless a newer push was queued since
        (that one is due at once and goes first)."""
        statement = (
            update(syncs)
            .where(syncs.c.id == sync_id, syncs.c.push_due_at <= queued_at)
            .values(push_due_at=retry_at)
        )
        return (await self._execute(statement)).rowcount == 1

    async def retarget(self, old_certificate_id: str, new_certificate_id: str) -> int:
        """Move the syncs of a renewed certificate onto its successor; how many moved."""
        statement = (
            update(syncs)
            .where(syncs.c.certificate_id == old_certificate_id)
            .values(certificate_id=new_certificate_id, updated_at=utcnow())
        )
        return (await self._execute(statement)).rowcount

    async def record_push(
        self,
        sync_id: str,
        *,
        at: datetime,
        certificate_id: str | None,
        error: str | None,
        state: Mapping[str, Any] | None = None,
    ) -> bool:
        """The outcome of one push: 'ok' (and the destination's new state) or 'failed' with `error`."""
        values: dict[str, Any] = {
            "last_status": SyncStatus.FAILED if error else SyncStatus.OK,
            "last_error": error,
            "last_run_at": at,
            "last_certificate_id": certificate_id,
            "updated_at": utcnow(),
        }
        if state is not None:
            values["destination_state"] = dict(state)
        statement = update(syncs).where(syncs.c.id == sync_id).values(**values)
        return (await self._execute(statement)).rowcount == 1

    async def delete(self, sync_id: str) -> bool:
        return (await self._execute(delete(syncs).where(syncs.c.id == sync_id))).rowcount == 1
