"""Cross-signed CA certificates: the same CA key and subject under another issuer (alternate chains)."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select

from acme_server.storage.base import ConfigRepository, make_id, utcnow
from acme_server.storage.tables import ca_cross_certificates as cross


@dataclass(frozen=True, slots=True)
class CrossCertificateRecord:
    id: str
    ca_id: str
    issuer_id: str
    certificate_pem: str
    created_at: datetime


class CrossCertificateRepository(ConfigRepository):
    async def create(self, *, ca_id: str, issuer_id: str, certificate_pem: str) -> CrossCertificateRecord:
        """A second certificate for `ca_id` signed by `issuer_id`; the same pair twice is a Conflict."""
        statement = (
            insert(cross)
            .values(
                id=make_id(),
                ca_id=ca_id,
                issuer_id=issuer_id,
                certificate_pem=certificate_pem,
                created_at=utcnow(),
            )
            .returning(*cross.c)
        )
        record = await self._one_or_none(CrossCertificateRecord, statement)
        assert record is not None
        await self._changed()
        return record

    async def list(self) -> builtins.list[CrossCertificateRecord]:
        """Every cross certificate, oldest first."""
        return await self._all(CrossCertificateRecord, select(cross).order_by(cross.c.created_at, cross.c.id))

    async def list_for_ca(self, ca_id: str) -> builtins.list[CrossCertificateRecord]:
        """The CA's cross-signed certificates, oldest first (their order is the alternate chains' order)."""
        statement = select(cross).where(cross.c.ca_id == ca_id).order_by(cross.c.created_at, cross.c.id)
        return await self._all(CrossCertificateRecord, statement)
