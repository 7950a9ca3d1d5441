"""Certificate authorities: their certificates, sealed keys, settings and CRL number counter."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, insert, select, update

from acme_server.errors import NotFound
from acme_server.statuses import CAStatus
from acme_server.storage.base import ConfigRepository, make_id, utcnow
from acme_server.storage.tables import cas


@dataclass(frozen=True, slots=True)
class CARecord:
    id: str
    name: str
    kind: str  # 'root' | 'intermediate' | 'external'
    parent_id: str | None
    status: CAStatus
    certificate_pem: str | None  # None while pending
    chain_pem: str  # '' for a root
    csr_pem: str | None
    sealed_key: bytes  # b"" when the key is in a token
    key_uri: str | None  # the RFC 7512 URI of the key in a PKCS#11 token; None: sealed_key holds it
    key_algorithm: str
    crl_url: str | None
    ocsp_url: str | None
    issuer_url: str | None
    max_path_length: int | None
    not_before: datetime | None
    not_after: datetime | None
    crl_number: int  # the last CRL number handed out
    created_at: datetime
    status_url: str | None  # base URL of its CRLs and OCSP; None only for a row an older release made
    crl_partitions: int  # CRL partitions new certificates are spread over
    crl_partitions_published: int  # partitions published: the most it ever had


class CARepository(ConfigRepository):
    async def create(
        self,
        *,
        name: str,
        kind: str,
        status: CAStatus,
        sealed_key: bytes,
        key_algorithm: str,
        key_uri: str | None = None,
        parent_id: str | None = None,
        certificate_pem: str | None = None,
        chain_pem: str = "",
        csr_pem: str | None = None,
        crl_url: str | None = None,
        ocsp_url: str | None = None,
        issuer_url: str | None = None,
        max_path_length: int | None = None,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        status_url: str | None = None,
        crl_partitions: int = 1,
    ) -> CARecord:
        statement = (
            insert(cas)
            .values(
                id=make_id(),
                name=name,
                kind=kind,
                parent_id=parent_id,
                status=status,
                certificate_pem=certificate_pem,
                chain_pem=chain_pem,
                csr_pem=csr_pem,
                sealed_key=sealed_key,
                key_uri=key_uri,
                key_algorithm=key_algorithm,
                crl_url=crl_url,
                ocsp_url=ocsp_url,
                issuer_url=issuer_url,
                max_path_length=max_path_length,
                not_before=not_before,
                not_after=not_after,
                crl_number=0,
                created_at=utcnow(),
                status_url=status_url,
                crl_partitions=crl_partitions,
                crl_partitions_published=crl_partitions,
            )
            .returning(*cas.c)
        )
        record = await self._one_or_none(CARecord, statement)
        assert record is not None
        await self._changed()
        return record

    async def get(self, ca_id: str) -> CARecord | None:
        return await self._one_or_none(CARecord, select(cas).where(cas.c.id == ca_id))

    async def get_by_name(self, name: str) -> CARecord | None:
        return await self._one_or_none(CARecord, select(cas).where(cas.c.name == name))

    async def list(self) -> builtins.list[CARecord]:
        return await self._all(CARecord, select(cas).order_by(cas.c.created_at, cas.c.id))

    async def set_status(self, ca_id: str, status: CAStatus) -> bool:
        result = await self._execute(update(cas).where(cas.c.id == ca_id).values(status=status))
        await self._changed()
        return result.rowcount == 1

    async def complete_external(
        self,
        ca_id: str,
        *,
        certificate_pem: str,
        chain_pem: str,
        not_before: datetime,
        not_after: datetime,
    ) -> bool:
        """Store the certificate an offline root signed and activate the CA; False unless it was
        still pending (a second import lost the race)."""
        statement = (
            update(cas)
            .where(cas.c.id == ca_id, cas.c.status == CAStatus.PENDING)
            .values(
                status=CAStatus.ACTIVE,
                certificate_pem=certificate_pem,
                chain_pem=chain_pem,
                not_before=not_before,
                not_after=not_after,
            )
        )
        completed = (await self._execute(statement)).rowcount == 1
        await self._changed()
        return completed

    async def update_settings(
        self, ca_id: str, *, status_url: str | None = None, crl_partitions: int | None = None
    ) -> bool:
        """Change the status URL and/or the partition count (None: unchanged). Partitions published
        never shrink: certificates issued with more keep naming theirs."""
        values: dict[str, object] = {}
        if status_url is not None:
            values["status_url"] = status_url
        if crl_partitions is not None:
            values["crl_partitions"] = crl_partitions
            values["crl_partitions_published"] = case(
                (cas.c.crl_partitions_published < crl_partitions, crl_partitions),
                else_=cas.c.crl_partitions_published,
            )
        if not values:
            return await self.get(ca_id) is not None
        result = await self._execute(update(cas).where(cas.c.id == ca_id).values(values))
        await self._changed()
        return result.rowcount == 1

    async def next_crl_number(self, ca_id: str) -> int:
        """Hand out the next CRL number. One UPDATE ... RETURNING: the row lock (PostgreSQL) or the
        write lock (SQLite) makes it monotonic across workers and replicas (RFC 5280 §5.2.3)."""
        statement = (
            update(cas)
            .where(cas.c.id == ca_id)
            .values(crl_number=cas.c.crl_number + 1)
            .returning(cas.c.crl_number)
        )
        number = (await self._execute(statement)).scalar_one_or_none()
        if number is None:
            raise NotFound("CA", ca_id)
        return int(number)
