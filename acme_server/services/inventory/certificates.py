"""The certificate inventory: the one place a freshly issued certificate is stored (record_issued, the
issuance pipeline's last stage: services/issuance.py), reads, metadata, revocation and export. Every
rule comes from ca_core; this module orchestrates and stores."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from cryptography import x509

from acme_server.errors import AlreadyRenewed, AlreadyRevoked, NotFound
from acme_server.services.config import catalog
from acme_server.services.delivery import syncs
from acme_server.services.inventory.bundles import materials
from acme_server.services.platform import audit
from acme_server.services.runtime import Runtime
from acme_server.services.status import crls
from acme_server.statuses import CertificateStatus
from acme_server.storage import CertificateFilter, CertificateRecord, Tx
from ca_core.errors import InvalidSetting
from ca_core.export import PemBundle, load_certificates_pem, pem_bundle, to_pkcs12
from ca_core.inspect import CertificateDetails, inspect_certificate, inventory_fields
from ca_core.issuance import IssuedCertificate
from ca_core.keys import PrivateKey
from ca_core.profile import Profile
from ca_core.revocation import RevocationReason
from ca_core.serials import format_serial

audit_log = logging.getLogger("acme_server.audit")


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


def _info(record: CertificateRecord, metadata: dict[str, str]) -> CertificateInfo:
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
) -> tuple[CertificateInfo, syncs.PendingPushes]:
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
    return _info(record, dict(metadata)), await syncs.pending_pushes(tx, record.id, profile_id)


async def get_certificate(rt: Runtime, certificate_id: str) -> CertificateInfo:
    async with rt.storage.read() as tx:
        record = await find_record(tx, certificate_id)
        return _info(record, await tx.certificates.get_metadata(record.id))


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
                return _info(record, await tx.certificates.get_metadata(record.id))
    return None


async def list_certificates(
    rt: Runtime, query: CertificateFilter, *, limit: int = 50, offset: int = 0
) -> tuple[list[CertificateInfo], int]:
    async with rt.storage.read() as tx:
        records, total = await tx.certificates.list(query, limit=limit, offset=offset)
        metadata = await tx.certificates.get_metadata_of([r.id for r in records])
        return [_info(r, metadata[r.id]) for r in records], total


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
        return _info(found[0], await tx.certificates.get_metadata(found[0].id))


async def _store_metadata(
    tx: Tx, record: CertificateRecord, old: Mapping[str, str], new: dict[str, str]
) -> None:
    """Write `new` as the certificate's metadata, with its audit row naming the keys set or changed and
    the keys removed (not the values: the row says what changed, the certificate shows the rest)."""
    await tx.certificates.set_metadata(record.id, new)
    changed = sorted(key for key, value in new.items() if old.get(key) != value)
    removed = sorted(key for key in old if key not in new)
    detail = {"serial": record.serial, "set": changed, "removed": removed}
    await audit.record(tx, audit.current(), "certificate.metadata", "certificate", record.id, detail)


async def set_metadata(rt: Runtime, certificate_id: str, metadata: dict[str, str]) -> CertificateInfo:
    async with rt.storage.transaction() as tx:
        record = await find_record(tx, certificate_id)
        old = await tx.certificates.get_metadata(record.id)
        await _store_metadata(tx, record, old, dict(metadata))
    return _info(record, dict(metadata))


async def update_metadata(
    rt: Runtime, certificate_id: str, changes: Mapping[str, str | None]
) -> CertificateInfo:
    """Set the keys given, remove those given as None, keep the rest (one transaction)."""
    async with rt.storage.transaction() as tx:
        record = await find_record(tx, certificate_id)
        old = await tx.certificates.get_metadata(record.id)
        metadata = dict(old)
        for key, value in changes.items():
            if value is None:
                metadata.pop(key, None)
            else:
                metadata[key] = value
        await _store_metadata(tx, record, old, metadata)
    return _info(record, metadata)


async def delete_certificate(rt: Runtime, certificate_id: str) -> None:
    async with rt.storage.transaction() as tx:
        if not await tx.certificates.delete(certificate_id):
            raise NotFound("certificate", certificate_id)
        await audit.record(tx, audit.current(), "certificate.delete", "certificate", certificate_id)


async def revoke_certificate(
    rt: Runtime, certificate_id: str, reason: RevocationReason, *, source: str = "api"
) -> CertificateInfo:
    """Revoke once (a second time is AlreadyRevoked), then publish a fresh CRL of the issuing CA (of
    the certificate's partition)."""
    now = rt.clock.now()
    async with rt.storage.transaction() as tx:
        record = await find_record(tx, certificate_id)
        if not await tx.revocations.revoke(record.id, reason=reason.value, revoked_at=now, source=source):
            raise AlreadyRevoked(f"certificate {record.serial} is already revoked")
        detail = {"serial": record.serial, "reason": reason.value, "source": source}
        await audit.record(tx, audit.current(), "certificate.revoke", "certificate", record.id, detail)
        revoked = await find_record(tx, record.id)
        metadata = await tx.certificates.get_metadata(record.id)
    if revoked.ca_id is not None:  # the partition its distribution point names
        await crls.generate_crl(rt, revoked.ca_id, partition=revoked.crl_partition)
    return _info(revoked, metadata)


async def export_pem(rt: Runtime, certificate_id: str, *, actor: str | None = None) -> PemBundle:
    """Certificate, chain and (managed) key; a key handed out is logged with `actor` (who asked)."""
    async with rt.storage.read() as tx:
        record = await find_record(tx, certificate_id)
    certificate, chain, key = materials(rt, record)
    await _record_key_export(rt, record, key, actor, "PEM")
    return pem_bundle(certificate, chain, key)


async def export_pkcs12(
    rt: Runtime, certificate_id: str, *, password: str, alias: str, actor: str | None = None
) -> bytes:
    async with rt.storage.read() as tx:
        record = await find_record(tx, certificate_id)
    certificate, chain, key = materials(rt, record)
    await _record_key_export(rt, record, key, actor, "PKCS#12")
    return await asyncio.to_thread(to_pkcs12, certificate, chain, key, password=password, alias=alias)


async def _record_key_export(
    rt: Runtime, record: CertificateRecord, key: PrivateKey | None, actor: str | None, form: str
) -> None:
    """A private key handed out is an audit row, committed before the key leaves (no row, no key)."""
    if key is None:
        return
    async with rt.storage.transaction() as tx:
        detail = {"serial": record.serial, "form": form}
        await audit.record(tx, audit.current(), "certificate.export_key", "certificate", record.id, detail)
    audit_log.info(
        "private key of certificate %s (serial %s) exported as %s by %s",
        record.id,
        record.serial,
        form,
        actor or audit.current(),
    )


__all__ = ["CertificateFilter", "CertificateInfo"]  # CertificateFilter: the query value
