"""Published CRLs: each DER-encoded CRL a CA signed, by number."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select

from acme_server.storage.base import Repository, make_id, utcnow
from acme_server.storage.tables import crls


@dataclass(frozen=True, slots=True)
class CRLRecord:
    id: str
    ca_id: str
    number: int
    this_update: datetime
    next_update: datetime
    der: bytes
    created_at: datetime
    partition: int  # 0 for a CA that is not partitioned


class CRLRepository(Repository):
    async def store(
        self,
        ca_id: str,
        *,
        number: int,
        this_update: datetime,
        next_update: datetime,
        der: bytes,
        partition: int = 0,
    ) -> CRLRecord:
        """Keep a signed CRL of one partition; a number stored twice for one CA is a Conflict."""
        statement = (
            insert(crls)
            .values(
                id=make_id(),
                ca_id=ca_id,
                number=number,
                this_update=this_update,
                next_update=next_update,
                der=der,
                created_at=utcnow(),
                partition=partition,
            )
            .returning(*crls.c)
        )
        record = await self._one_or_none(CRLRecord, statement)
        assert record is not None
        return record

    async def latest(self, ca_id: str, partition: int = 0) -> CRLRecord | None:
        """The CRL of the partition with the highest number (not the newest row: generations may
        overlap)."""
        statement = (
            select(crls)
            .where(crls.c.ca_id == ca_id, crls.c.partition == partition)
            .order_by(crls.c.number.desc())
            .limit(1)
        )
        return await self._one_or_none(CRLRecord, statement)

    async def latest_number(self, ca_id: str, partition: int) -> tuple[int, datetime, datetime] | None:
        """(number, next_update, this_update) of the partition's newest CRL, without the DER: what a
        request for it checks first (walks the (ca_id, number) index down to the partition's newest)."""
        c = crls.c
        statement = (
            select(c.number, c.next_update, c.this_update)
            .where(c.ca_id == ca_id, c.partition == partition)
            .order_by(c.number.desc())
            .limit(1)
        )
        row = (await self._execute(statement)).first()
        return None if row is None else (int(row.number), row.next_update, row.this_update)

    async def latest_numbers(self) -> dict[tuple[str, int], tuple[int, datetime, datetime]]:
        """(ca_id, partition) -> (number, next_update, this_update) of each partition's newest CRL,
        without the DER: what the updater and the endpoints check before loading a (possibly 40 MB)
        CRL."""
        c = crls.c
        newest = (
            select(c.ca_id, c.partition, func.max(c.number).label("number"))
            .group_by(c.ca_id, c.partition)
            .subquery()
        )
        statement = select(c.ca_id, c.partition, c.number, c.next_update, c.this_update).join(
            newest, (c.ca_id == newest.c.ca_id) & (c.number == newest.c.number)
        )
        rows = (await self._execute(statement)).all()
        return {
            (row.ca_id, row.partition): (int(row.number), row.next_update, row.this_update) for row in rows
        }

    async def get_number(self, ca_id: str, number: int) -> CRLRecord | None:
        statement = select(crls).where(crls.c.ca_id == ca_id, crls.c.number == number)
        return await self._one_or_none(CRLRecord, statement)

    async def list_for_ca(self, ca_id: str) -> builtins.list[CRLRecord]:
        """Every stored CRL of the CA (all partitions), highest number first."""
        statement = select(crls).where(crls.c.ca_id == ca_id).order_by(crls.c.number.desc())
        return await self._all(CRLRecord, statement)
