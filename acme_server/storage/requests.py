"""Certificate requests: what was asked for (a CSR or server-generated key parameters), its metadata
and outcome — issued with its certificate, or failed with the reason."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, insert, select, update

from acme_server.statuses import RequestStatus
from acme_server.storage.base import Repository, make_id, pairs_match, utcnow
from acme_server.storage.tables import certificate_request_metadata, certificate_requests


@dataclass(frozen=True, slots=True)
class CertificateRequestRecord:
    id: str
    profile_id: str
    method: str  # 'managed' | 'csr'
    status: RequestStatus
    csr_pem: str | None
    parameters: dict[str, Any]
    certificate_id: str | None
    error: str | None
    created_at: datetime


@dataclass(frozen=True)
class CertificateRequestFilter:
    """What list() selects; every given criterion must hold."""

    status: RequestStatus | None = None
    profile_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)  # ALL pairs must match


def _conditions(query: CertificateRequestFilter) -> list[ColumnElement[bool]]:
    c = certificate_requests.c
    conditions: list[ColumnElement[bool]] = []
    if query.status is not None:
        conditions.append(c.status == query.status)
    if query.profile_id is not None:
        conditions.append(c.profile_id == query.profile_id)
    conditions.extend(pairs_match(c.id, certificate_request_metadata, "request_id", query.metadata))
    return conditions


class CertificateRequestRepository(Repository):
    async def create(
        self,
        *,
        profile_id: str,
        method: str,
        parameters: Mapping[str, Any],
        csr_pem: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> CertificateRequestRecord:
        """Store a pending request and its metadata pairs together."""
        statement = (
            insert(certificate_requests)
            .values(
                id=make_id(),
                profile_id=profile_id,
                method=method,
                status=RequestStatus.PENDING,
                csr_pem=csr_pem,
                parameters=dict(parameters),
                certificate_id=None,
                error=None,
                created_at=utcnow(),
            )
            .returning(*certificate_requests.c)
        )
        record = await self._one_or_none(CertificateRequestRecord, statement)
        assert record is not None
        await self._insert_pairs(certificate_request_metadata, "request_id", record.id, metadata or {})
        return record

    async def get(self, request_id: str) -> CertificateRequestRecord | None:
        statement = select(certificate_requests).where(certificate_requests.c.id == request_id)
        return await self._one_or_none(CertificateRequestRecord, statement)

    async def list(
        self, query: CertificateRequestFilter, *, limit: int = 50, offset: int = 0
    ) -> tuple[builtins.list[CertificateRequestRecord], int]:
        """One page, newest first, and the total number matching the filter."""
        conditions = _conditions(query)
        c = certificate_requests.c
        page = (
            select(certificate_requests)
            .where(*conditions)
            .order_by(c.created_at.desc(), c.id)
            .limit(limit)
            .offset(offset)
        )
        total = select(func.count()).select_from(certificate_requests).where(*conditions)
        records = await self._all(CertificateRequestRecord, page)
        return records, int((await self._execute(total)).scalar_one())

    async def complete(self, request_id: str, certificate_id: str) -> bool:
        """pending -> issued with its certificate; False when it was not pending."""
        return await self._finish(request_id, status=RequestStatus.ISSUED, certificate_id=certificate_id)

    async def fail(self, request_id: str, error: str) -> bool:
        """pending -> failed with the reason; False when it was not pending."""
        return await self._finish(request_id, status=RequestStatus.FAILED, error=error)

    async def get_metadata(self, request_id: str) -> dict[str, str]:
        return await self._read_pairs(certificate_request_metadata, "request_id", request_id)

    async def get_metadata_of(self, request_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """Each request's metadata by id, in one query (a listed page)."""
        return await self._read_pairs_of(certificate_request_metadata, "request_id", request_ids)

    async def _finish(self, request_id: str, **values: str | RequestStatus) -> bool:
        c = certificate_requests.c
        statement = (
            update(certificate_requests)
            .where(c.id == request_id, c.status == RequestStatus.PENDING)
            .values(**values)
        )
        return (await self._execute(statement)).rowcount == 1
