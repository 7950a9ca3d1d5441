"""Changes to an inventory entry: its metadata (set or merged, each change an audit row naming the keys),
deletion, and revocation (which publishes a fresh CRL of the certificate's partition)."""

from __future__ import annotations

from collections.abc import Mapping

from acme_server.errors import AlreadyRevoked, NotFound
from acme_server.services.inventory import certificates
from acme_server.services.platform import audit
from acme_server.services.runtime import Runtime
from acme_server.services.status import crls
from acme_server.storage import CertificateRecord, Tx
from ca_core.revocation import RevocationReason


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


async def set_metadata(
    rt: Runtime, certificate_id: str, metadata: dict[str, str]
) -> certificates.CertificateInfo:
    async with rt.storage.transaction() as tx:
        record = await certificates.find_record(tx, certificate_id)
        old = await tx.certificates.get_metadata(record.id)
        await _store_metadata(tx, record, old, dict(metadata))
    return certificates.certificate_info(record, dict(metadata))


async def update_metadata(
    rt: Runtime, certificate_id: str, changes: Mapping[str, str | None]
) -> certificates.CertificateInfo:
    """Set the keys given, remove those given as None, keep the rest (one transaction)."""
    async with rt.storage.transaction() as tx:
        record = await certificates.find_record(tx, certificate_id)
        old = await tx.certificates.get_metadata(record.id)
        metadata = dict(old)
        for key, value in changes.items():
            if value is None:
                metadata.pop(key, None)
            else:
                metadata[key] = value
        await _store_metadata(tx, record, old, metadata)
    return certificates.certificate_info(record, metadata)


async def delete_certificate(rt: Runtime, certificate_id: str) -> None:
    async with rt.storage.transaction() as tx:
        if not await tx.certificates.delete(certificate_id):
            raise NotFound("certificate", certificate_id)
        await audit.record(tx, audit.current(), "certificate.delete", "certificate", certificate_id)


async def revoke_certificate(
    rt: Runtime, certificate_id: str, reason: RevocationReason, *, source: str = "api"
) -> certificates.CertificateInfo:
    """Revoke once (a second time is AlreadyRevoked), then publish a fresh CRL of the issuing CA (of
    the certificate's partition)."""
    now = rt.clock.now()
    async with rt.storage.transaction() as tx:
        record = await certificates.find_record(tx, certificate_id)
        if not await tx.revocations.revoke(record.id, reason=reason.value, revoked_at=now, source=source):
            raise AlreadyRevoked(f"certificate {record.serial} is already revoked")
        detail = {"serial": record.serial, "reason": reason.value, "source": source}
        await audit.record(tx, audit.current(), "certificate.revoke", "certificate", record.id, detail)
        revoked = await certificates.find_record(tx, record.id)
        metadata = await tx.certificates.get_metadata(record.id)
    if revoked.ca_id is not None:  # the partition its distribution point names
        await crls.generate_crl(rt, revoked.ca_id, partition=revoked.crl_partition)
    return certificates.certificate_info(revoked, metadata)
