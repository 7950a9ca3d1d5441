"""The certificate inventory: issued certificates, their key/value metadata, status transitions and
renewal links (revocation itself is storage/revocations.py)."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from sqlalchemy import (
    ColumnElement,
    Executable,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)

from acme_server.statuses import CertificateStatus
from acme_server.storage.base import (
    Repository,
    make_id,
    pair_owners,
    pairs_exist,
    pairs_match,
    pairs_owners,
    utcnow,
)
from acme_server.storage.prepared import prepared
from acme_server.storage.tables import cas, certificate_metadata, certificates, profiles

_CUSTOM_PLANS: Final = text(
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true),"
    " set_config('max_parallel_workers_per_gather', '0', true)"
)

_ESTIMATED_ROWS: Final = text("SELECT reltuples::bigint FROM pg_class WHERE oid = 'certificates'::regclass")

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
    status: CertificateStatus
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

    status: CertificateStatus | None = None
    profile_id: str | None = None
    ca_id: str | None = None
    expiring_before: datetime | None = None  # not_after earlier than this
    search: str | None = None  # case-insensitive substring of common_name or the SANs
    metadata: Mapping[str, str] = field(default_factory=dict)  # ALL pairs must match


def _conditions(query: CertificateFilter) -> list[ColumnElement[bool]]:
    """Every criterion but the metadata pairs (list() chooses how to match those)."""
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
        status: CertificateStatus = CertificateStatus.ACTIVE,
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
        pairs = query.metadata
        await self._plan_each_time()
        total = await self._count(conditions, pairs)
        if total == 0:
            return [], 0
        if pairs:
            # Many matches: probe each row along the created_at index (EXISTS) and stop after the page;
            # few: materialise the matching ids (IN) rather than walk the whole index for them. The
            # probe walks about (offset + limit) * all / total rows, IN sorts `total` ids.
            population = await self._population()
            walked = (offset + limit) * population / total
            match = pairs_exist if walked <= 2 * total else pairs_match
            conditions = [*conditions, *match(c.id, certificate_metadata, "certificate_id", pairs)]
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
        return await self._all(CertificateRecord, page), total

    async def _count(self, conditions: Sequence[ColumnElement[bool]], pairs: Mapping[str, str]) -> int:
        """How many certificates match, from a self-join of the metadata index (certificates joined only
        for other criteria). PostgreSQL's planner orders that join from its statistics; on SQLite the
        order is ours: each pair's count is a range of the index (under a millisecond for 20,000),
        the rarest pair drives the join, or, when the other criteria select fewer certificates,
        those certificates probe the pairs (EXISTS). Counting with IN over id sets sorted them all:
        a 2-pair count of 10,000 among 100,000 went from 84 to 28 ms on SQLite (bench/inventory.py)."""
        everything = select(func.count()).select_from(certificates).where(*conditions)
        if not pairs:
            return await self._number(everything)
        if self._connection.dialect.name == "postgresql":  # its planner orders the join from statistics
            return await self._number(self._joined_count(sorted(pairs.items()), conditions))
        sizes = {
            key: await self._number(pair_owners(certificate_metadata, key, value))
            for key, value in pairs.items()
        }
        ordered = sorted(pairs.items(), key=lambda pair: sizes[pair[0]])
        rarest = sizes[ordered[0][0]]
        if rarest == 0:
            return 0
        if conditions and await self._number(everything) <= rarest:
            probes = pairs_exist(certificates.c.id, certificate_metadata, "certificate_id", pairs)
            return await self._number(everything.where(*probes))
        if len(ordered) == 1 and not conditions:
            return rarest
        return await self._number(self._joined_count(ordered, conditions))

    @staticmethod
    def _joined_count(
        pairs: Sequence[tuple[str, str]], conditions: Sequence[ColumnElement[bool]]
    ) -> Executable:
        joined, where, owner = pairs_owners(certificate_metadata, "certificate_id", pairs)
        if conditions:
            joined = joined.join(certificates, certificates.c.id == owner)
        return select(func.count()).select_from(joined).where(*where, *conditions)

    async def _plan_each_time(self) -> None:
        """PostgreSQL: plan this transaction's statements for their values. asyncpg runs prepared
        statements, and after five runs PostgreSQL may switch one to a generic plan that cannot see
        that `team = ops` matches a fifth of the inventory: the EXISTS page then sorted all 20,000
        matches (84 ms) instead of stopping after 50 along the index (1 ms). And no parallel workers:
        starting them cost a 2-pair page 7 of its 10 ms, on a core the ACME traffic needs. The ACME hot
        path keeps its cheap generic plans (both settings are local to the transaction)."""
        if self._connection.dialect.name == "postgresql":
            await self._execute(_CUSTOM_PLANS)

    async def _population(self) -> int:
        """How many certificates there are, for choosing a plan: PostgreSQL's own estimate (kept by
        autovacuum; a count(*) there reads the whole index, 6 ms at 100,000), an exact count on SQLite
        (its count is a b-tree walk of the smallest index, under a millisecond)."""
        if self._connection.dialect.name == "postgresql":
            estimate = await self._number(_ESTIMATED_ROWS)
            if estimate >= 0:  # -1: never analysed
                return estimate
        return await self._number(select(func.count()).select_from(certificates))

    async def _number(self, statement: Executable) -> int:
        return int((await self._execute(statement)).scalar_one())

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
            c.ca_id == ca_id,
            c.status == CertificateStatus.ACTIVE,
            c.enrollment == enrollment,
            c.id.not_in(has_key),
        )
        statement = insert(certificate_metadata).from_select(["certificate_id", "key", "value"], chosen)
        return (await self._execute(statement)).rowcount

    async def set_status(
        self, certificate_id: str, status: CertificateStatus, *, expected: CertificateStatus | None = None
    ) -> bool:
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
                status=case(
                    (c.status == CertificateStatus.ACTIVE, CertificateStatus.SUPERSEDED.value), else_=c.status
                ),
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
                certificates.c.status == CertificateStatus.ACTIVE,
                certificates.c.not_after > now,
                certificates.c.not_after <= later,
            )
            .group_by(cas.c.name, profiles.c.name)
        )
        rows = await self._execute(statement)
        return [ExpiringCount(row.ca, row.profile, int(row.soon or 0), int(row.later)) for row in rows]

    async def last_expiry(self, ca_id: str) -> datetime | None:
        """The latest notAfter of any certificate the CA issued, revoked and superseded ones too (None:
        it issued none): one read from the end of the (ca_id, not_after) index."""
        statement = select(func.max(certificates.c.not_after)).where(certificates.c.ca_id == ca_id)
        value = (await self._execute(statement)).scalar()
        return value if isinstance(value, datetime) else None
