"""The certificate inventory: the one place a freshly issued certificate is stored (record_issued, the
issuance pipeline's last stage: services/issuance.py) and the reads of it. Changes are edits.py, export
export.py. Every rule comes from ca_core; this module orchestrates and stores."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from cryptography import x509

from acme_server.errors import AlreadyRenewed, NotFound
from acme_server.services.config import catalog
from acme_server.services.delivery import pushes
from acme_server.services.runtime import Runtime
from acme_server.statuses import CertificateStatus
from acme_server.storage import CertificateFilter, CertificateRecord, Tx
from ca_core.errors import InvalidSetting
from ca_core.export import load_certificates_pem
from ca_core.inspect import CertificateDetails, inspect_certificate, inventory_fields
from ca_core.issuance import IssuedCertificate
from ca_core.profile import Profile
from ca_core.serials import format_serial


@dataclass(frozen=True)
class CertificateInfo:
    """One inventory entry with everything the details page shows."""

    id: str
    serial: str
    status: str
    ca_id: str | None
    profile_id: str | None
    common_name: str
    friendly_name: str
    not_before: datetime
    not_after: datetime
    enrollment: str
    account_id: str | None
    renewed_from_id: str | None
    renewed_by_id: str | None
    auto_renew: bool
    created_at: datetime
    revoked_at: datetime | None
    revocation_reason: str | None
    has_private_key: bool
    certificate_pem: str
    chain_pem: str
    metadata: dict[str, str]

    @property
    def details(self) -> CertificateDetails:
        return inspect_certificate(load_certificates_pem(self.certificate_pem.encode())[0])


def certificate_info(record: CertificateRecord, metadata: dict[str, str]) -> CertificateInfo:
    return CertificateInfo(
        id=record.id,
        serial=record.serial,
        status=record.status,
        ca_id=record.ca_id,
        profile_id=record.profile_id,
        common_name=record.common_name,
        friendly_name=record.friendly_name,
        not_before=record.not_before,
        not_after=record.not_after,
        enrollment=record.enrollment,
        account_id=record.account_id,
        renewed_from_id=record.renewed_from_id,
        renewed_by_id=record.renewed_by_id,
        auto_renew=record.auto_renew,
        created_at=record.created_at,
        revoked_at=record.revoked_at,
        revocation_reason=record.revocation_reason,
        has_private_key=record.sealed_key is not None,
        certificate_pem=record.certificate_pem,
        chain_pem=record.chain_pem,
        metadata=metadata,
    )


async def find_record(tx: Tx, certificate_id: str) -> CertificateRecord:
    record = await tx.certificates.get(certificate_id)
    if record is None:
        raise NotFound("certificate", certificate_id)
    return record


async def record_issued(
    rt: Runtime,
    tx: Tx,
    issued: IssuedCertificate,
    *,
    profile_id: str,
    profile: Profile,
    enrollment: str,
    metadata: dict[str, str] | None = None,
    friendly_name: str = "",
    account_id: str | None = None,
    order_id: str | None = None,
    renewed_from: CertificateRecord | None = None,
    request_id: str | None = None,
) -> tuple[CertificateInfo, pushes.PendingPushes]:
    """Stage 4 of the issuance pipeline (services/issuance.py): put a freshly issued certificate into
    the inventory within the caller's one transaction (the one place that does, for every enrollment
    method; the caller adds its own bookkeeping to `tx`), its key sealed, and queue the pushes to its
    syncs (a column: they survive a crash between the commit and the push). With `renewed_from`, it
    is linked as that certificate's successor, which becomes superseded; if another renewal won the
    race, AlreadyRenewed (the caller's transaction rolls back, so nothing is stored)."""
    details = inventory_fields(issued.certificate)
    metadata = metadata or {}
    auto_renew = profile.auto_renew_by_default if renewed_from is None else renewed_from.auto_renew
    record = await tx.certificates.create(
        ca_id=profile.ca_id,
        profile_id=profile_id,
        serial=format_serial(issued.serial),
        common_name=details.common_name or (details.sans.all_strings() or [""])[0],
        friendly_name=friendly_name or details.common_name or "",
        status=CertificateStatus.ACTIVE,
        not_before=details.not_before,
        not_after=details.not_after,
        certificate_pem=issued.certificate_pem,
        chain_pem=issued.chain_pem,
        sealed_key=rt.seal(issued.private_key) if issued.private_key else None,
        key_algorithm=details.key_algorithm,
        san_text=" ".join(details.sans.all_strings()),
        fingerprint_sha256=details.fingerprint_sha256,
        enrollment=enrollment,
        account_id=account_id,
        order_id=order_id,
        request_id=request_id,
        renewed_from_id=None if renewed_from is None else renewed_from.id,
        auto_renew=auto_renew and issued.private_key is not None,
        metadata=metadata,
        crl_partition=issued.crl_partition,
    )
    if renewed_from is not None:
        if not await tx.certificates.mark_renewed(renewed_from.id, record.id):
            raise AlreadyRenewed(f"certificate {renewed_from.serial} was already renewed")
        await tx.syncs.retarget(renewed_from.id, record.id)  # its syncs push the successor from now on
    return certificate_info(record, dict(metadata)), await pushes.pending_pushes(tx, record.id, profile_id)


async def get_certificate(rt: Runtime, certificate_id: str) -> CertificateInfo:
    async with rt.storage.read() as tx:
        record = await find_record(tx, certificate_id)
        return certificate_info(record, await tx.certificates.get_metadata(record.id))


async def find_by_certificate(rt: Runtime, certificate: x509.Certificate) -> CertificateInfo | None:
    """The inventory entry of a certificate we issued (issuer CA + serial), or None."""
    async with rt.storage.read() as tx:
        for ca in await tx.cas.list():
            if ca.certificate_pem is None:
                continue
            if load_certificates_pem(ca.certificate_pem.encode())[0].subject != certificate.issuer:
                continue
            record = await tx.certificates.get_by_serial(ca.id, format_serial(certificate.serial_number))
            if record is not None:
                return certificate_info(record, await tx.certificates.get_metadata(record.id))
    return None


async def list_certificates(
    rt: Runtime, query: CertificateFilter, *, limit: int = 50, offset: int = 0
) -> tuple[list[CertificateInfo], int]:
    async with rt.storage.read() as tx:
        records, total = await tx.certificates.list(query, limit=limit, offset=offset)
        metadata = await tx.certificates.get_metadata_of([r.id for r in records])
        return [certificate_info(r, metadata[r.id]) for r in records], total


async def resolve_filter(
    rt: Runtime, query: CertificateFilter, *, profile: str | None = None, ca: str | None = None
) -> CertificateFilter:
    """`query` with the profile and CA given by id or name resolved to ids; an unknown one is an
    InvalidSetting naming the filter (a typo must not look like an empty inventory)."""
    configuration = await catalog.current(rt)
    profile_id = ca_id = None
    if profile is not None:
        try:
            profile_id = configuration.profile_record(profile).id
        except NotFound:
            raise InvalidSetting("profile", f"no profile {profile!r}") from None
    if ca is not None:
        try:
            ca_id = configuration.ca_record(ca).id
        except NotFound:
            raise InvalidSetting("ca", f"no CA {ca!r}") from None
    return replace(query, profile_id=profile_id or query.profile_id, ca_id=ca_id or query.ca_id)


RENEWAL_CHAIN_LIMIT = 1000  # guards the walk against a cycle that a bad manual edit could create


async def renewal_chain(rt: Runtime, certificate_id: str) -> list[str]:
    """Ids of the certificates this one was renewed from and renewed by, oldest first, itself included."""
    async with rt.storage.read() as tx:
        start = await find_record(tx, certificate_id)
        before: list[str] = []
        record: CertificateRecord | None = start
        while record is not None and record.renewed_from_id and len(before) < RENEWAL_CHAIN_LIMIT:
            before.append(record.renewed_from_id)
            record = await tx.certificates.get(record.renewed_from_id)
        after: list[str] = []
        record = start
        while record is not None and record.renewed_by_id and len(after) < RENEWAL_CHAIN_LIMIT:
            after.append(record.renewed_by_id)
            record = await tx.certificates.get(record.renewed_by_id)
    return [*reversed(before), start.id, *after]


async def latest_active(rt: Runtime, profile: str) -> CertificateInfo:
    """The newest active certificate of a profile (id or name): after a renewal, the successor."""
    record = (await catalog.current(rt)).profile_record(profile)
    async with rt.storage.read() as tx:
        query = CertificateFilter(status=CertificateStatus.ACTIVE, profile_id=record.id)
        found, _ = await tx.certificates.list(query, limit=1)
        if not found:
            raise NotFound("active certificate of profile", record.name)
        return certificate_info(found[0], await tx.certificates.get_metadata(found[0].id))


__all__ = ["CertificateFilter", "CertificateInfo"]  # CertificateFilter: the query value
