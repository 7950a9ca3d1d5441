"""The certificate inventory: issued certificates, their key/value metadata, status transitions and
renewal links (revocation itself is storage/revocations.py)."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from sqlalchemy import ColumnElement, bindparam, case, delete, func, insert, literal, or_, select, update

from acme_server.storage.base import Repository, make_id, pairs_match, utcnow
from acme_server.storage.prepared import prepared
from acme_server.storage.tables import cas, certificate_metadata, certificates, profiles

# Built once: issuance and the certificate download run these per order.
_INSERT_RETURNING: Final = prepared(insert(certificates).returning(*certificates.c))
_GET: Final = prepared(select(certificates).where(certificates.c.id == bindparam("id")))


@dataclass(frozen=True, slots=True)
class CertificateRecord:
    id: str
    ca_id: str | None  # None: self-signed
    profile_id: str | None
    serial: str  # lowercase hex
    common_name: str
    friendly_name: str
    status: str  # 'active' | 'revoked' | 'superseded'
    not_before: datetime
    not_after: datetime
    certificate_pem: str
    chain_pem: str
    sealed_key: bytes | None  # only keys the server generated
    key_algorithm: str
    san_text: str  # space-joined SANs
    fingerprint_sha256: str
    enrollment: str  # 'api' | 'acme' | 'cli'
    request_id: str | None
    account_id: str | None
    order_id: str | None
    renewed_from_id: str | None
    renewed_by_id: str | None
    auto_renew: bool
    created_at: datetime
    revoked_at: datetime | None
    revocation_reason: str | None
    crl_partition: int  # the CRL partition its distribution point names


@dataclass(frozen=True)
class CertificateFilter:
    """What list() selects; every given criterion must hold."""

    status: str | None = None
    profile_id: str | None = None
    ca_id: str | None = None
    expiring_before: datetime | None = None  # not_after earlier than this
    search: str | None = None  # case-insensitive substring of common_name or the SANs
    metadata: Mapping[str, str] = field(default_factory=dict)  # ALL pairs must match


def _conditions(query: CertificateFilter) -> list[ColumnElement[bool]]:
    c = certificates.c
    conditions: list[ColumnElement[bool]] = []
    if query.status is not None:
        conditions.append(c.status == query.status)
    if query.profile_id is not None:
        conditions.append(c.profile_id == query.profile_id)
    if query.ca_id is not None:
        conditions.append(c.ca_id == query.ca_id)
    if query.expiring_before is not None:
        conditions.append(c.not_after < query.expiring_before)
    if query.search:
        conditions.append(
            or_(
                c.common_name.icontains(query.search, autoescape=True),
                c.san_text.icontains(query.search, autoescape=True),
            )
        )
    conditions.extend(pairs_match(c.id, certificate_metadata, "certificate_id", query.metadata))
    return conditions


@dataclass(frozen=True, slots=True)
class ExpiringCount:
    """Active certificates of one issuing CA and profile expiring soon (names; "" when none)."""

    ca: str
    profile: str
    soon: int  # not after <= the `soon` cut
    later: int  # not after <= the `later` cut (including the soon ones)


class CertificateRepository(Repository):
    async def create(
        self,
        *,
        ca_id: str | None,
        profile_id: str | None,
        serial: str,
        common_name: str,
        not_before: datetime,
        not_after: datetime,
        certificate_pem: str,
        key_algorithm: str,
        fingerprint_sha256: str,
        friendly_name: str = "",
        status: str = "active",
        chain_pem: str = "",
        sealed_key: bytes | None = None,
        san_text: str = "",
        enrollment: str = "api",
        request_id: str | None = None,
        account_id: str | None = None,
        order_id: str | None = None,
        renewed_from_id: str | None = None,
        auto_renew: bool = False,
        metadata: Mapping[str, str] | None = None,
        crl_partition: int = 0,
    ) -> CertificateRecord:
        """Store a certificate and its metadata pairs together."""
        values = dict(
            id=make_id(),
            ca_id=ca_id,
            profile_id=profile_id,
            serial=serial.lower(),
            common_name=common_name,
            friendly_name=friendly_name,
            status=status,
            not_before=not_before,
            not_after=not_after,
            certificate_pem=certificate_pem,
            chain_pem=chain_pem,
            sealed_key=sealed_key,
            key_algorithm=key_algorithm,
            san_text=san_text,
            fingerprint_sha256=fingerprint_sha256,
            enrollment=enrollment,
            request_id=request_id,
            account_id=account_id,
            order_id=order_id,
            renewed_from_id=renewed_from_id,
            renewed_by_id=None,
            auto_renew=auto_renew,
            created_at=utcnow(),
            revoked_at=None,
            revocation_reason=None,
            crl_partition=crl_partition,
        )
        record = await self._one_or_none(CertificateRecord, _INSERT_RETURNING, values)
        assert record is not None
        await self._insert_pairs(certificate_metadata, "certificate_id", record.id, metadata or {})
        return record

    async def get(self, certificate_id: str) -> CertificateRecord | None:
        return await self._one_or_none(CertificateRecord, _GET, {"id": certificate_id})

    async def get_by_serial(self, ca_id: str | None, serial: str) -> CertificateRecord | None:
        """By issuer and serial; ca_id None finds a self-signed certificate."""
        owner = certificates.c.ca_id.is_(None) if ca_id is None else certificates.c.ca_id == ca_id
        statement = select(certificates).where(owner, certificates.c.serial == serial.lower())
        return await self._one_or_none(CertificateRecord, statement)

    async def list(
        self, query: CertificateFilter, *, limit: int = 50, offset: int = 0
    ) -> tuple[builtins.list[CertificateRecord], int]:
        """One page, newest first, and the total number matching the filter."""
        conditions = _conditions(query)
        c = certificates.c
        # A deferred join: the page's ids come from the (created_at, id) index and the filters, then
        # only those rows are read whole. Sorting or skipping whole rows (PEMs and all) cost seconds
        # at 100,000 certificates (bench/inventory.py).
        newest_first = (c.created_at.desc(), c.id.desc())  # the index read backwards, no sort
        ids = (
            select(c.id)
            .where(*conditions)
            .order_by(*newest_first)
            .limit(limit)
            .offset(offset)
            .scalar_subquery()
        )
        page = select(certificates).where(c.id.in_(ids)).order_by(*newest_first)
        total = select(func.count()).select_from(certificates).where(*conditions)
        records = await self._all(CertificateRecord, page)
        return records, int((await self._execute(total)).scalar_one())

    async def get_metadata(self, certificate_id: str) -> dict[str, str]:
        return await self._read_pairs(certificate_metadata, "certificate_id", certificate_id)

    async def get_metadata_of(self, certificate_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """Each certificate's metadata by id, in one query (a listed page)."""
        return await self._read_pairs_of(certificate_metadata, "certificate_id", certificate_ids)

    async def set_metadata(self, certificate_id: str, metadata: Mapping[str, str]) -> None:
        """Replace every pair of the certificate with `metadata`."""
        await self._execute(
            delete(certificate_metadata).where(certificate_metadata.c.certificate_id == certificate_id)
        )
        await self._insert_pairs(certificate_metadata, "certificate_id", certificate_id, metadata)

    async def put_metadata_for_ca(self, ca_id: str, key: str, value: str, *, enrollment: str) -> int:
        """Add key=value to every active certificate of the CA enrolled that way which lacks the key,
        in one INSERT ... SELECT; returns how many got it."""
        c, m = certificates.c, certificate_metadata.c
        has_key = select(m.certificate_id).where(m.key == key)
        chosen = select(c.id, literal(key), literal(value)).where(
            c.ca_id == ca_id, c.status == "active", c.enrollment == enrollment, c.id.not_in(has_key)
        )
        statement = insert(certificate_metadata).from_select(["certificate_id", "key", "value"], chosen)
        return (await self._execute(statement)).rowcount

    async def set_status(self, certificate_id: str, status: str, *, expected: str | None = None) -> bool:
        """Move to `status`, only from `expected` when given; False for the loser of a race."""
        statement = update(certificates).where(certificates.c.id == certificate_id).values(status=status)
        if expected is not None:
            statement = statement.where(certificates.c.status == expected)
        return (await self._execute(statement)).rowcount == 1

    async def mark_renewed(self, old_id: str, new_id: str) -> bool:
        """Link old -> new and supersede the old certificate (a revoked one stays revoked). False when
        the old one was already renewed by another certificate: one renewal wins."""
        c = certificates.c
        supersede = (
            update(certificates)
            .where(c.id == old_id, c.renewed_by_id.is_(None))
            .values(
                renewed_by_id=new_id,
                status=case((c.status == "active", "superseded"), else_=c.status),
            )
        )
        if (await self._execute(supersede)).rowcount != 1:
            return False
        await self._execute(update(certificates).where(c.id == new_id).values(renewed_from_id=old_id))
        return True

    async def set_auto_renew(self, certificate_id: str, auto_renew: bool) -> bool:
        statement = (
            update(certificates).where(certificates.c.id == certificate_id).values(auto_renew=auto_renew)
        )
        return (await self._execute(statement)).rowcount == 1

    async def delete(self, certificate_id: str) -> bool:
        """Remove a certificate; its metadata and revocation row go with it (ON DELETE CASCADE)."""
        statement = delete(certificates).where(certificates.c.id == certificate_id)
        return (await self._execute(statement)).rowcount == 1

    async def count_expiring(
        self, now: datetime, soon: datetime, later: datetime
    ) -> builtins.list[ExpiringCount]:
        """One GROUP BY over the not_after index: active, not yet expired, expiring by `later`."""
        expiring_soon = func.sum(case((certificates.c.not_after <= soon, 1), else_=0))
        statement = (
            select(
                func.coalesce(cas.c.name, "").label("ca"),
                func.coalesce(profiles.c.name, "").label("profile"),
                expiring_soon.label("soon"),
                func.count().label("later"),
            )
            .select_from(
                certificates.outerjoin(cas, cas.c.id == certificates.c.ca_id).outerjoin(
                    profiles, profiles.c.id == certificates.c.profile_id
                )
            )
            .where(
                certificates.c.status == "active",
                certificates.c.not_after > now,
                certificates.c.not_after <= later,
            )
            .group_by(cas.c.name, profiles.c.name)
        )
        rows = await self._execute(statement)
        return [ExpiringCount(row.ca, row.profile, int(row.soon or 0), int(row.later)) for row in rows]
