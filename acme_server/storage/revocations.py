"""Revocations: the one write that revokes a certificate, and the lean per-CA list CRLs are built from."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update

from acme_server.statuses import CertificateStatus
from acme_server.storage.base import Repository
from acme_server.storage.tables import certificates, revocations


@dataclass(frozen=True, slots=True)
class RevocationRecord:
    """One CRL entry; only what a CRL needs, because a CA may have a million of them."""

    serial: str
    revoked_at: datetime
    reason: str  # RFC 5280 reason name, e.g. 'KEY_COMPROMISE'


class RevocationRepository(Repository):
    async def revoke(self, certificate_id: str, *, reason: str, revoked_at: datetime, source: str) -> bool:
        """Revoke once: a conditional UPDATE (the loser of a race, or a second call, gets False) and the
        revocations row with the issuer and serial copied for CRL generation."""
        c = certificates.c
        statement = (
            update(certificates)
            .where(c.id == certificate_id, c.status != CertificateStatus.REVOKED)
            .values(status=CertificateStatus.REVOKED, revoked_at=revoked_at, revocation_reason=reason)
            .returning(c.ca_id, c.serial, c.crl_partition)
        )
        row = (await self._execute(statement)).first()
        if row is None:
            return False
        await self._execute(
            insert(revocations).values(
                certificate_id=certificate_id,
                ca_id=row.ca_id,
                serial=row.serial,
                revoked_at=revoked_at,
                reason=reason,
                source=source,
                crl_partition=row.crl_partition,  # listed in the partition its CDP names
            )
        )
        return True

    async def stream_for_ca(
        self, ca_id: str, *, partition: int = 0, batch: int = 1000
    ) -> AsyncIterator[builtins.list[tuple[str, datetime, str]]]:
        """Every revoked certificate of the CA's CRL `partition` as (serial, revoked_at, reason)
        tuples, `batch` rows at a time from a server-side cursor: a million rows never sit on the
        event loop at once, and other requests run between batches."""
        r = revocations.c
        statement = select(r.serial, r.revoked_at, r.reason).where(
            r.ca_id == ca_id, r.crl_partition == partition
        )
        result = await self._connection.stream(statement.execution_options(yield_per=batch))
        async for rows in result.partitions():
            yield [(row[0], row[1], row[2]) for row in rows]

    async def list_for_ca(self, ca_id: str) -> builtins.list[RevocationRecord]:
        """Every revoked certificate of the CA, unordered (CRL entries need no order)."""
        r = revocations.c
        statement = select(r.serial, r.revoked_at, r.reason).where(r.ca_id == ca_id)
        return await self._all(RevocationRecord, statement)

    async def count_by_partition(self, ca_id: str) -> dict[int, int]:
        """CRL partition -> how many revocations of the CA it lists (from the (ca_id, partition) index)."""
        r = revocations.c
        entries = func.count().label("entries")
        statement = select(r.crl_partition, entries).where(r.ca_id == ca_id).group_by(r.crl_partition)
        rows = (await self._execute(statement)).all()
        return {int(row.crl_partition): int(row.entries) for row in rows}

    async def newest_by_partition(self) -> dict[tuple[str, int], datetime]:
        """(ca_id, CRL partition) -> when its latest revocation was made: what tells whether the
        partition's newest CRL may lack one (a process killed between the revocation and its CRL)."""
        r = revocations.c
        newest = func.max(r.revoked_at).label("newest")
        statement = (
            select(r.ca_id, r.crl_partition, newest)
            .where(r.ca_id.is_not(None))
            .group_by(r.ca_id, r.crl_partition)
        )
        return {(row.ca_id, row.crl_partition): row.newest for row in (await self._execute(statement)).all()}
