"""Certificate requests (the seed's issuance modal over the API): record what was asked for and its
metadata, issue through services.certificates, and keep the outcome on the request — issued with its
certificate, or failed with the reason (the error is raised to the caller too)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from acme_server.errors import NotFound
from acme_server.services import catalog, certificates
from acme_server.services.certificates import CertificateInfo, ManagedRequest
from acme_server.services.runtime import Runtime
from acme_server.statuses import RequestStatus
from acme_server.storage import CertificateRequestFilter, CertificateRequestRecord
from ca_core.durations import format_duration
from ca_core.errors import CAError, InvalidSetting


@dataclass(frozen=True)
class RequestInfo:
    id: str
    profile_id: str
    method: str  # managed | csr
    status: str  # pending | issued | failed
    parameters: dict[str, Any]  # what was asked for (subject, SANs, key algorithm, ttl)
    csr_pem: str | None
    certificate_id: str | None
    error: str | None
    created_at: datetime
    metadata: dict[str, str]


def _info(record: CertificateRequestRecord, metadata: dict[str, str]) -> RequestInfo:
    return RequestInfo(
        id=record.id,
        profile_id=record.profile_id,
        method=record.method,
        status=record.status,
        parameters=dict(record.parameters),
        csr_pem=record.csr_pem,
        certificate_id=record.certificate_id,
        error=record.error,
        created_at=record.created_at,
        metadata=metadata,
    )


def _parameters(managed: ManagedRequest | None, ttl: timedelta | None) -> dict[str, Any]:
    parameters: dict[str, Any] = {"ttl": format_duration(ttl) if ttl is not None else None}
    if managed is not None:
        parameters.update(
            subject=managed.subject.attributes(),
            altNames=managed.sans.all_strings(),
            keyAlgorithm=managed.key_algorithm.value,
        )
    return parameters


async def _profile_id(rt: Runtime, profile: str) -> str:
    try:
        return (await catalog.current(rt)).profile_record(profile).id
    except NotFound:
        raise InvalidSetting("profile", f"no profile {profile!r}") from None


async def create_request(
    rt: Runtime,
    *,
    profile: str,
    managed: ManagedRequest | None = None,
    csr_pem: bytes | None = None,
    ttl: timedelta | None = None,
    metadata: Mapping[str, str] | None = None,
    friendly_name: str = "",
) -> tuple[RequestInfo, CertificateInfo]:
    """Store the request (pending), issue, and mark it issued. When issuance is refused (bad CSR,
    policy violation, disabled CA, ...) the request is marked failed with that reason, then the
    error is raised."""
    if (csr_pem is None) == (managed is None):
        raise InvalidSetting("method", "give exactly one of managed or csr")
    profile_id = await _profile_id(rt, profile)
    metadata = dict(metadata or {})
    async with rt.storage.transaction() as tx:
        record = await tx.requests.create(
            profile_id=profile_id,
            method="managed" if managed is not None else "csr",
            parameters=_parameters(managed, ttl),
            csr_pem=csr_pem.decode("utf-8", "replace") if csr_pem is not None else None,
            metadata=metadata,
        )
    try:
        certificate = await certificates.issue_certificate(
            rt,
            profile=profile_id,
            csr_pem=csr_pem,
            managed=managed,
            ttl=ttl,
            metadata=metadata,
            friendly_name=friendly_name,
            request_id=record.id,
        )
    except CAError as exc:
        async with rt.storage.transaction() as tx:
            await tx.requests.fail(record.id, exc.detail)
        raise
    async with rt.storage.transaction() as tx:
        await tx.requests.complete(record.id, certificate.id)
        done = await tx.requests.get(record.id)
    assert done is not None
    return _info(done, metadata), certificate


async def get_request(rt: Runtime, request_id: str) -> RequestInfo:
    async with rt.storage.read() as tx:
        record = await tx.requests.get(request_id)
        if record is None:
            raise NotFound("certificate request", request_id)
        return _info(record, await tx.requests.get_metadata(record.id))


async def list_requests(
    rt: Runtime,
    *,
    status: RequestStatus | None = None,
    profile: str | None = None,
    metadata: Mapping[str, str] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[RequestInfo], int]:
    """One page, newest first, and the total matching; every given filter must hold."""
    query = CertificateRequestFilter(
        status=status,
        profile_id=await _profile_id(rt, profile) if profile is not None else None,
        metadata=dict(metadata or {}),
    )
    async with rt.storage.read() as tx:
        records, total = await tx.requests.list(query, limit=limit, offset=offset)
        pairs = await tx.requests.get_metadata_of([r.id for r in records])
        return [_info(r, pairs[r.id]) for r in records], total
