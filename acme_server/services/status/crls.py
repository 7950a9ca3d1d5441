"""CRL use-cases: number, build and store a CA's CRL from its revocations — one CRL per partition when
the CA is partitioned (RFC 5280 §5.2.5, as Boulder shards) —; read the latest (generating it on demand
in the main server, never in the read-only status sidecar); and when a disabled CA's CRL stops being
published. Signing is crl_signing.py's; the updater that keeps every CRL fresh is crl_updater.py."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from acme_server.errors import NotFound
from acme_server.services.config import cas
from acme_server.services.runtime import Runtime
from acme_server.services.status import crl_signing
from acme_server.storage import CARecord, CRLRecord, Tx
from ca_core.export import load_certificates_pem

CRL_VALIDITY = timedelta(days=7)


@dataclass(frozen=True)
class CRLInfo:
    id: str
    ca_id: str
    number: int
    this_update: datetime
    next_update: datetime
    der: bytes
    partition: int = 0

    @property
    def pem(self) -> str:
        body = base64.b64encode(self.der).decode()
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        return "-----BEGIN X509 CRL-----\n" + "\n".join(lines) + "\n-----END X509 CRL-----\n"


def _info(record: CRLRecord) -> CRLInfo:
    return CRLInfo(
        record.id,
        record.ca_id,
        record.number,
        record.this_update,
        record.next_update,
        record.der,
        record.partition,
    )


def _check_partition(record: CARecord, partition: int) -> None:
    """Partitions 0 .. crl_partitions_published - 1 exist; a CA that was never partitioned has 0."""
    if not 0 <= partition < record.crl_partitions_published:
        raise NotFound(f"CRL partition of CA {record.name}", str(partition))


async def generate_crl(
    rt: Runtime,
    ca_ref: str,
    *,
    partition: int = 0,
    validity: timedelta = CRL_VALIDITY,
    process_threshold: int = crl_signing.PROCESS_THRESHOLD,
) -> CRLInfo:
    """A new CRL of one partition with the CA's next number; the number is taken in its own
    transaction so it stays monotonic across workers and replicas even when two generations overlap
    (and, one counter per CA, within every partition). From `process_threshold` entries on it is
    signed in a child process. A partitioned CA's CRLs name their partition's URL in an issuing
    distribution point; a CA that never had more than one partition publishes exactly as before."""
    return await _generate(rt, ca_ref, partition, validity, process_threshold, None)


@dataclass(frozen=True)
class _Prepared:
    """One partition's CRL before its signature: the CA's row, its number and the entries."""

    record: CARecord
    partition: int
    scope: crl_signing.Scope
    blobs: list[bytes]
    count: int


async def _prepare(rt: Runtime, ca_ref: str, partition: int, validity: timedelta) -> _Prepared:
    async with rt.storage.transaction() as tx:
        record = await cas.find_record(tx, ca_ref)
        _check_partition(record, partition)
        number = await tx.cas.next_crl_number(record.id)
    # A CA without a certificate is refused before any work.
    authority = cas.authority_from_record(rt, record)
    blobs, count = [], 0
    async with rt.storage.read() as tx:
        async for batch in tx.revocations.stream_for_ca(record.id, partition=partition):
            blobs.append(crl_signing.encode(batch))
            count += len(batch)
    now = rt.clock.now()
    point = authority.settings.crl_url_of(partition) if record.crl_partitions_published > 1 else None
    return _Prepared(record, partition, crl_signing.Scope(number, now, now + validity, point), blobs, count)


async def _store(rt: Runtime, prepared: _Prepared, der: bytes) -> CRLInfo:
    scope = prepared.scope
    async with rt.storage.transaction() as tx:
        stored = await tx.crls.store(
            prepared.record.id,
            number=scope.number,
            this_update=scope.this_update,
            next_update=scope.next_update,
            der=der,
            partition=prepared.partition,
        )
    return _remember(rt, _info(stored))


async def _generate(
    rt: Runtime,
    ca_ref: str,
    partition: int,
    validity: timedelta,
    process_threshold: int,
    child: ProcessPoolExecutor | None,
) -> CRLInfo:
    prepared = await _prepare(rt, ca_ref, partition, validity)
    in_child = crl_signing.child_may_sign(prepared.record)
    der = await crl_signing.signed_der(
        rt,
        prepared.record,
        prepared.blobs,
        prepared.scope,
        in_process=in_child and prepared.count >= process_threshold,
        child=child if in_child else None,
    )
    return await _store(rt, prepared, der)


async def generate_crls(
    rt: Runtime, ca_ref: str, *, process_threshold: int = crl_signing.PROCESS_THRESHOLD
) -> list[CRLInfo]:
    """A new CRL of every partition the CA publishes (one for a CA that is not partitioned)."""
    async with rt.storage.read() as tx:
        record = await cas.find_record(tx, ca_ref)
    partitions = range(record.crl_partitions_published)
    return await publish(rt, record.id, partitions, process_threshold=process_threshold)


async def publish(
    rt: Runtime,
    ca_id: str,
    partitions: Sequence[int],
    *,
    process_threshold: int = crl_signing.PROCESS_THRESHOLD,
) -> list[CRLInfo]:
    """New CRLs of these partitions of one CA. When they hold `process_threshold` entries between
    them, child processes sign them all (a single spawn each, and no GIL of ours held while a
    partition too small for a child of its own is signed: bench.crl --partitions, request latency
    during the build), pipelined: the next partition is read while the previous ones are signed."""
    if len(partitions) > 1:
        async with rt.storage.read() as tx:
            record = await cas.find_record(tx, ca_id)
            counts = await tx.revocations.count_by_partition(ca_id)
        total = sum(counts.get(p, 0) for p in partitions)
        if crl_signing.child_may_sign(record) and total >= process_threshold:
            async with crl_signing.SIGNERS.use() as children:
                return await _pipelined(rt, ca_id, partitions, children)
    return [await _generate(rt, ca_id, p, CRL_VALIDITY, process_threshold, None) for p in partitions]


async def _pipelined(
    rt: Runtime, ca_id: str, partitions: Sequence[int], children: ProcessPoolExecutor
) -> list[CRLInfo]:
    """Partition by partition: prepare (number and entries, on this loop), hand to a child, and
    store each signed CRL in partition order, with at most crl_signing.CRL_SIGNERS + 1 in flight."""
    loop = asyncio.get_running_loop()
    in_flight: list[tuple[_Prepared, asyncio.Future[bytes]]] = []
    infos: list[CRLInfo] = []
    try:
        for partition in partitions:
            prepared = await _prepare(rt, ca_id, partition, CRL_VALIDITY)
            assert prepared.record.certificate_pem is not None  # _prepare refused a CA without one
            signing = loop.run_in_executor(
                children,
                crl_signing.sign_in_child,
                prepared.record.certificate_pem,
                prepared.record.sealed_key,
                rt.kek.to_text(),
                prepared.blobs,
                prepared.scope,
            )
            in_flight.append((prepared, signing))
            if len(in_flight) > crl_signing.CRL_SIGNERS:
                done, der = in_flight.pop(0)
                infos.append(await _store(rt, done, await der))
        for done, der in in_flight:
            infos.append(await _store(rt, done, await der))
    finally:
        for _, der in in_flight:
            der.cancel()
    return infos


async def update_ca(
    rt: Runtime, ca_ref: str, *, status_url: str | None = None, crl_partitions: int | None = None
) -> cas.CAInfo:
    """Change a CA's status URL or CRL partitions (services/config/cas.py), then publish a CRL of every
    partition at once: a new partition has one before any certificate names it (the sidecar never
    generates one), and every issuing distribution point names the current URLs."""
    info = await cas.update_ca_settings(rt, ca_ref, status_url=status_url, crl_partitions=crl_partitions)
    changed = status_url is not None or crl_partitions is not None
    if changed and info.certificate_pem is not None:
        await generate_crls(rt, info.id)
    return info


def _remember(rt: Runtime, info: CRLInfo) -> CRLInfo:
    """Keep the newest CRL of each partition in this process, so a request for an unchanged CRL reads
    one small row instead of the whole DER (tens of MB for a large CA)."""
    key = ("crl", info.ca_id, info.partition)
    cached = rt.status_cache.get(key)
    if not isinstance(cached, CRLInfo) or cached.number < info.number:
        rt.status_cache[key] = info
    return info


async def _newest(rt: Runtime, ca_ref: str, partition: int) -> tuple[str, CRLInfo | None]:
    """(CA id, the partition's newest stored CRL or None), from the process cache when the number is
    current."""
    async with rt.storage.read() as tx:
        record = await cas.find_record(tx, ca_ref)
        _check_partition(record, partition)
        current = await tx.crls.latest_number(record.id, partition)
        if current is None:
            return record.id, None
        cached = rt.status_cache.get(("crl", record.id, partition))
        if isinstance(cached, CRLInfo) and cached.number == current[0]:
            return record.id, cached
        stored = await tx.crls.get_number(record.id, current[0])
    return record.id, _remember(rt, _info(stored)) if stored is not None else None


async def latest_crl(rt: Runtime, ca_ref: str, *, partition: int = 0) -> CRLInfo:
    """The newest CRL of a CA's partition, generating one on demand when there is none or it has
    expired (a retired CA's last one, expired, stays: is_retired)."""
    ca_id, latest = await _newest(rt, ca_ref, partition)
    if latest is None or latest.next_update <= rt.clock.now():
        if latest is not None and await is_ca_retired(rt, ca_id):
            return latest  # publishing stopped: the last CRL stays where it was
        return await generate_crl(rt, ca_id, partition=partition)
    return latest


async def is_ca_retired(rt: Runtime, ca_ref: str) -> bool:
    async with rt.storage.read() as tx:
        record = await cas.find_record(tx, ca_ref)
        if record.status != "disabled":
            return False
        return is_retired(record, await publishing_ends(tx, record, await tx.cas.list()), rt.clock.now())


async def published_crl(rt: Runtime, ca_ref: str, *, partition: int = 0) -> CRLInfo:
    """The newest stored CRL of a partition, never generating one: what the read-only status sidecar
    serves."""
    _, latest = await _newest(rt, ca_ref, partition)
    if latest is None:
        raise NotFound("published CRL of CA", ca_ref if partition == 0 else f"{ca_ref} partition {partition}")
    return latest


async def list_crls(rt: Runtime, ca_ref: str) -> list[CRLInfo]:
    async with rt.storage.read() as tx:
        record = await cas.find_record(tx, ca_ref)
        return [_info(r) for r in await tx.crls.list_for_ca(record.id)]


async def publishing_ends(tx: Tx, record: CARecord, records: Sequence[CARecord]) -> datetime | None:
    """The last notAfter of everything the CA signed: the certificates it issued (revoked ones too),
    the CA certificates and cross certificates it signed. None: it signed nothing. A CRL speaks for
    certificates still within their validity (RFC 5280 §3.3); after this moment there is none left, so
    a disabled CA's CRL (an old CA after its rotation) may stop being published."""
    ends = [await tx.certificates.last_expiry(record.id)]
    ends += [r.not_after for r in records if r.parent_id == record.id]
    for cross in await tx.cross_certificates.list():
        if cross.issuer_id == record.id:
            ends.append(load_certificates_pem(cross.certificate_pem.encode())[0].not_valid_after_utc)
    return max((end for end in ends if end is not None), default=None)


def is_retired(record: CARecord, ends: datetime | None, now: datetime) -> bool:
    """A disabled CA whose last certificate expired: its CRL is no longer published. An active CA
    always publishes (it may issue again); re-enabling a CA publishes again."""
    return record.status == "disabled" and (ends is None or ends <= now)
