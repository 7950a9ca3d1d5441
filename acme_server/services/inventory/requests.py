"""Certificate requests (the seed's issuance modal over the API): issue through the pipeline
(services/issuance.py) and record what was asked for, its metadata and the outcome — issued with its
certificate (in the certificate's own transaction), or failed with the reason (the error is raised to
the caller too)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from acme_server.errors import NotFound
from acme_server.services import issuance
from acme_server.services.config import catalog
from acme_server.services.config.catalog import Catalog
from acme_server.services.inventory import certificates
from acme_server.services.inventory.certificates import CertificateInfo
from acme_server.services.issuance import ManagedRequest
from acme_server.services.runtime import Runtime
from acme_server.statuses import RequestStatus
from acme_server.storage import CertificateRequestFilter, CertificateRequestRecord, Tx
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


def _profile_id(configuration: Catalog, profile: str) -> str:
    try:
        return configuration.profile_record(profile).id
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
    """Issue and store the request as issued, with its certificate, in one transaction. When issuance
    is refused (bad CSR, policy violation, disabled CA, ...) the request is stored failed with that
    reason, then the error is raised. The catalog is read once; an unknown profile stores nothing."""
    issuance.check_method(csr_pem, managed)
    configuration = await catalog.current(rt)
    profile_id = _profile_id(configuration, profile)
    metadata = dict(metadata or {})
    asked = (profile_id, managed, csr_pem, ttl, metadata)
    try:
        issuer = issuance.api_issuer(configuration, profile_id)
        issued = await issuance.sign_requested(rt, issuer, csr_pem=csr_pem, managed=managed, ttl=ttl)
        async with rt.storage.transaction() as tx:
            record = await _create(tx, *asked)
            certificate, pushes = await certificates.record_issued(
                rt,
                tx,
                issued,
                profile_id=issuer.id,
                profile=issuer.profile,
                enrollment="api",
                metadata=metadata,
                friendly_name=friendly_name,
                request_id=record.id,
            )
            await tx.requests.complete(record.id, certificate.id)
            done = await tx.requests.get(record.id)
    except CAError as exc:  # refused, or the store rolled back: the request is kept, failed
        async with rt.storage.transaction() as tx:
            await tx.requests.fail((await _create(tx, *asked)).id, exc.detail)
        raise
    await issuance.publish(rt, pushes)
    assert done is not None
    return _info(done, metadata), certificate


async def _create(
    tx: Tx,
    profile_id: str,
    managed: ManagedRequest | None,
    csr_pem: bytes | None,
    ttl: timedelta | None,
    metadata: dict[str, str],
) -> CertificateRequestRecord:
    """The request row, inside the transaction that also stores its outcome."""
    return await tx.requests.create(
        profile_id=profile_id,
        method="managed" if managed is not None else "csr",
        parameters=_parameters(managed, ttl),
        csr_pem=csr_pem.decode("utf-8", "replace") if csr_pem is not None else None,
        metadata=metadata,
    )


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
        profile_id=_profile_id(await catalog.current(rt), profile) if profile is not None else None,
        metadata=dict(metadata or {}),
    )
    async with rt.storage.read() as tx:
        records, total = await tx.requests.list(query, limit=limit, offset=offset)
        pairs = await tx.requests.get_metadata_of([r.id for r in records])
        return [_info(r, pairs[r.id]) for r in records], total
