"""Export of a stored certificate: PEM (certificate, chain and a server-held key) or PKCS#12; a private
key handed out is an audit row, committed before the key leaves, and an acme_server.audit log line."""

from __future__ import annotations

import asyncio
import logging

from acme_server.services.inventory import certificates
from acme_server.services.inventory.bundles import materials
from acme_server.services.platform import audit
from acme_server.services.runtime import Runtime
from acme_server.storage import CertificateRecord
from ca_core.export import PemBundle, pem_bundle, to_pkcs12
from ca_core.keys import PrivateKey

audit_log = logging.getLogger("acme_server.audit")


async def export_pem(rt: Runtime, certificate_id: str, *, actor: str | None = None) -> PemBundle:
    """Certificate, chain and (managed) key; a key handed out is logged with `actor` (who asked)."""
    async with rt.storage.read() as tx:
        record = await certificates.find_record(tx, certificate_id)
    certificate, chain, key = materials(rt, record)
    await _record_key_export(rt, record, key, actor, "PEM")
    return pem_bundle(certificate, chain, key)


async def export_pkcs12(
    rt: Runtime, certificate_id: str, *, password: str, alias: str, actor: str | None = None
) -> bytes:
    async with rt.storage.read() as tx:
        record = await certificates.find_record(tx, certificate_id)
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
