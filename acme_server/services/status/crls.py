"""CRL use-cases: number, build and store a CA's CRL from its revocations — one CRL per partition when
the CA is partitioned (RFC 5280 §5.2.5, as Boulder shards) —; read the latest (generating it on demand
in the main server, never in the read-only status sidecar); and the updater that regenerates every
CRL well before its nextUpdate, in one worker or replica at a time under a database lease (Boulder's
crl-updater)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import multiprocessing
import os
import uuid
from collections.abc import AsyncIterator, Collection, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.serialization import Encoding

from acme_server.errors import NotFound
from acme_server.services import leases
from acme_server.services.config import cas
from acme_server.services.runtime import Runtime, key_context
from acme_server.storage import CARecord, CRLRecord, Tx
from ca_core.authority import CASettings, CertificateAuthority
from ca_core.crl import build_crl
from ca_core.export import load_certificates_pem
from ca_core.keyprotect import KeyEncryptionKey, unseal_private_key
from ca_core.revocation import RevocationReason, RevokedEntry
from ca_core.signer import SoftwareSigner

CRL_VALIDITY = timedelta(days=7)
# From this many entries a CRL is signed in a child process rather than a thread (see _sign_in_child).
PROCESS_THRESHOLD = 50_000
# Child processes signing the partitions of one publication at once (_pipelined), kept this long idle.
CRL_SIGNERS = 2
SIGNERS_IDLE = 300.0
# Regenerate once half the validity has passed: relying parties that fetched the previous CRL just
# before its successor was published still hold one that is valid for days.
CRL_REFRESH_AFTER = CRL_VALIDITY / 2
UPDATER_LEASE = "crl-updater"
UPDATER_LEASE_TTL = timedelta(minutes=10)
UPDATER_INTERVAL = 60.0  # seconds between the updater's looks at the CRLs

log = logging.getLogger("acme_server.crls")


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


def _encode(batch: Sequence[tuple[str, datetime, str]]) -> bytes:
    """One batch of revocations as "serial seconds reason" lines: cheap to build between batches on the
    event loop and, unlike a million tuples, cheap to hand to another process (no pickling walk)."""
    return "".join(f"{serial} {int(at.timestamp())} {reason}\n" for serial, at, reason in batch).encode()


def _entries(blobs: Sequence[bytes]) -> Iterator[RevokedEntry]:
    """The entries back from _encode's lines. Our own stored serials (format_serial's lowercase hex,
    range-checked again by build_crl), so int(.., 16) rather than parse_serial's cleaning; revocation
    times repeat (one second holds many), so each distinct second becomes a datetime once."""
    times: dict[bytes, datetime] = {}
    reasons = {reason.value.encode(): reason for reason in RevocationReason}
    for blob in blobs:
        for line in blob.splitlines():
            serial, seconds, reason = line.split(b" ")
            at = times.get(seconds)
            if at is None:
                at = times[seconds] = datetime.fromtimestamp(int(seconds), UTC)
            yield RevokedEntry(int(serial, 16), at, reasons[reason])


@dataclass(frozen=True)
class _Scope:
    """What one CRL is: its number, validity and, for a partition, the URL its IDP names."""

    number: int
    this_update: datetime
    next_update: datetime
    distribution_point: str | None


def _sign(authority: CertificateAuthority, blobs: Sequence[bytes], scope: _Scope) -> bytes:
    crl = build_crl(
        authority,
        _entries(blobs),
        number=scope.number,
        this_update=scope.this_update,
        next_update=scope.next_update,
        distribution_point=scope.distribution_point,
    )
    return crl.public_bytes(Encoding.DER)


def _sign_in_child(
    certificate_pem: str,
    sealed_key: bytes,
    kek_text: str,
    blobs: Sequence[bytes],
    scope: _Scope,
) -> bytes:
    """_sign in a child process, for large CRLs: cryptography holds the GIL while it signs and encodes
    a CRL (1.5 s for a million entries), which in a thread would stall every request of the server.
    The child unseals the CA key itself (our own process, over a local pipe); a signer that is not a
    software key (an HSM) would sign in-process instead."""
    certificate = load_certificates_pem(certificate_pem.encode())[0]
    public_key = certificate.public_key()
    key = unseal_private_key(
        KeyEncryptionKey.from_text(kek_text),
        sealed_key,
        context=key_context(public_key),  # type: ignore[arg-type]
    )
    authority = CertificateAuthority("crl", certificate, (), SoftwareSigner(key), CASettings())
    return _sign(authority, blobs, scope)


def _child_may_sign(record: CARecord) -> bool:
    """Whether a child process can sign this CA's CRLs: it unseals the CA's sealed key itself. The one
    place to say so for a key that cannot leave this process (a key in a token signs here: the child
    has no session with the token, and only the digest crosses to it)."""
    return record.key_uri is None and bool(record.sealed_key)


class _SignerPool:
    """The child processes that sign large CRLs, one pool per process: spawned on first use (a spawn
    imports the server again, about a second: once, not per publication or per revocation) and shut
    down after SIGNERS_IDLE seconds without use, so an idle server keeps no child."""

    def __init__(self) -> None:
        self.pool: ProcessPoolExecutor | None = None
        self.users = 0
        self.idle: asyncio.TimerHandle | None = None

    @contextlib.asynccontextmanager
    async def use(self) -> AsyncIterator[ProcessPoolExecutor]:
        if self.idle is not None:
            self.idle.cancel()
            self.idle = None
        if self.pool is None:
            context = multiprocessing.get_context("spawn")
            self.pool = ProcessPoolExecutor(
                max_workers=CRL_SIGNERS, mp_context=context, initializer=_lower_priority
            )
        pool = self.pool
        self.users += 1
        try:
            yield pool
        except BrokenProcessPool:
            self.retire(pool, broken=True)  # a child died (killed, out of memory): respawn next time
            raise
        finally:
            self.users -= 1
            if self.users == 0 and self.pool is pool:
                self.idle = asyncio.get_running_loop().call_later(SIGNERS_IDLE, self.retire, pool)

    def retire(self, pool: ProcessPoolExecutor, *, broken: bool = False) -> None:
        if self.pool is pool and (broken or self.users == 0):
            self.pool = None
            pool.shutdown(wait=False, cancel_futures=True)


_SIGNERS = _SignerPool()


def _lower_priority() -> None:
    """In each signer child: a CRL is background work, so requests of the server (this child's
    parent) get the CPU first when both want it (nice 10; the signer still uses any idle core)."""
    os.nice(10)


async def _signed_der(
    rt: Runtime,
    record: CARecord,
    blobs: Sequence[bytes],
    scope: _Scope,
    *,
    in_process: bool,
    child: ProcessPoolExecutor | None,
) -> bytes:
    """Entries, signature and DER off the event loop (ARCHITECTURE rule 9): in a thread, or for a
    large CRL in a child process that holds no GIL of ours (`child`, shared by the partitions of one
    publication, else one of its own)."""
    if child is None and not in_process:
        return await asyncio.to_thread(_sign, cas.authority_from_record(rt, record), blobs, scope)
    assert record.certificate_pem is not None
    async with contextlib.AsyncExitStack() as stack:
        pool = child or await stack.enter_async_context(_SIGNERS.use())
        return await asyncio.get_running_loop().run_in_executor(
            pool,
            _sign_in_child,
            record.certificate_pem,
            record.sealed_key,
            rt.kek.to_text(),
            blobs,
            scope,
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
    process_threshold: int = PROCESS_THRESHOLD,
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
    scope: _Scope
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
            blobs.append(_encode(batch))
            count += len(batch)
    now = rt.clock.now()
    point = authority.settings.crl_url_of(partition) if record.crl_partitions_published > 1 else None
    return _Prepared(record, partition, _Scope(number, now, now + validity, point), blobs, count)


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
    in_child = _child_may_sign(prepared.record)
    der = await _signed_der(
        rt,
        prepared.record,
        prepared.blobs,
        prepared.scope,
        in_process=in_child and prepared.count >= process_threshold,
        child=child if in_child else None,
    )
    return await _store(rt, prepared, der)


async def generate_crls(
    rt: Runtime, ca_ref: str, *, process_threshold: int = PROCESS_THRESHOLD
) -> list[CRLInfo]:
    """A new CRL of every partition the CA publishes (one for a CA that is not partitioned)."""
    async with rt.storage.read() as tx:
        record = await cas.find_record(tx, ca_ref)
    partitions = range(record.crl_partitions_published)
    return await _publish(rt, record.id, partitions, process_threshold=process_threshold)


async def _publish(
    rt: Runtime, ca_id: str, partitions: Sequence[int], *, process_threshold: int = PROCESS_THRESHOLD
) -> list[CRLInfo]:
    """New CRLs of these partitions of one CA. When they hold `process_threshold` entries between
    them, child processes sign them all (a single spawn each, and no GIL of ours held while a
    partition too small for a child of its own is signed: bench.crl --partitions, request latency
    during the build), pipelined: the next partition is read while the previous ones are signed."""
    if len(partitions) > 1:
        async with rt.storage.read() as tx:
            record = await cas.find_record(tx, ca_id)
            counts = await tx.revocations.count_by_partition(ca_id)
        if _child_may_sign(record) and sum(counts.get(p, 0) for p in partitions) >= process_threshold:
            async with _SIGNERS.use() as children:
                return await _pipelined(rt, ca_id, partitions, children)
    return [await _generate(rt, ca_id, p, CRL_VALIDITY, process_threshold, None) for p in partitions]


async def _pipelined(
    rt: Runtime, ca_id: str, partitions: Sequence[int], children: ProcessPoolExecutor
) -> list[CRLInfo]:
    """Partition by partition: prepare (number and entries, on this loop), hand to a child, and
    store each signed CRL in partition order, with at most CRL_SIGNERS + 1 in flight."""
    loop = asyncio.get_running_loop()
    in_flight: list[tuple[_Prepared, asyncio.Future[bytes]]] = []
    infos: list[CRLInfo] = []
    try:
        for partition in partitions:
            prepared = await _prepare(rt, ca_id, partition, CRL_VALIDITY)
            assert prepared.record.certificate_pem is not None  # _prepare refused a CA without one
            signing = loop.run_in_executor(
                children,
                _sign_in_child,
                prepared.record.certificate_pem,
                prepared.record.sealed_key,
                rt.kek.to_text(),
                prepared.blobs,
                prepared.scope,
            )
            in_flight.append((prepared, signing))
            if len(in_flight) > CRL_SIGNERS:
                done, der = in_flight.pop(0)
                infos.append(await _store(rt, done, await der))
        for done, der in in_flight:
            infos.append(await _store(rt, done, await der))
    finally:
        for _, der in in_flight:
            der.cancel()
    return infos


def _by_ca(keys: Sequence[Partition]) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = {}
    for ca_id, partition in keys:
        grouped.setdefault(ca_id, []).append(partition)
    return grouped


async def _publish_each(rt: Runtime, keys: Sequence[Partition]) -> list[CRLInfo]:
    """New CRLs of these partitions, CA by CA."""
    return [
        info for ca_id, partitions in _by_ca(keys).items() for info in await _publish(rt, ca_id, partitions)
    ]


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


Partition = tuple[str, int]  # (CA id, CRL partition)


def _lacks_revocations(
    key: Partition,
    newest: dict[Partition, tuple[int, datetime, datetime]],
    revoked: dict[Partition, datetime],
) -> bool:
    """The partition has a revocation made after its newest CRL: one whose own CRL was never
    published (the process was killed between the two), or not yet."""
    return key in revoked and (key not in newest or revoked[key] > newest[key][2])


def _partitions(records: Sequence[CARecord], retired: Collection[str] = ()) -> list[Partition]:
    """Every published partition of every CA that has a certificate and is not `retired`."""
    return [
        (r.id, p)
        for r in records
        if r.certificate_pem is not None and r.id not in retired
        for p in range(r.crl_partitions_published)
    ]


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


async def _retired(tx: Tx, records: Sequence[CARecord], now: datetime) -> set[str]:
    """The ids of the retired CAs among `records` (one indexed MAX per disabled CA)."""
    retired = set()
    for record in (r for r in records if r.status == "disabled"):
        if is_retired(record, await publishing_ends(tx, record, records), now):
            retired.add(record.id)
    return retired


async def publish_unpublished(rt: Runtime) -> list[CRLInfo]:
    """A CRL for every CA with a revocation its newest CRL may lack (RFC 5280 §3.3: a revoked
    certificate is listed in the CRL published next). Run at start-up by every process, without the
    updater's lease: a killed process may hold it for UPDATER_LEASE_TTL, and two processes
    generating at once only spend a CRL number each."""
    async with rt.storage.read() as tx:
        records = await tx.cas.list()
        keys = _partitions(records, await _retired(tx, records, rt.clock.now()))
        newest = await tx.crls.latest_numbers()
        revoked = await tx.revocations.newest_by_partition()
    return await _publish_each(rt, [key for key in keys if _lacks_revocations(key, newest, revoked)])


async def refresh_due_crls(rt: Runtime, *, holder: str) -> list[CRLInfo]:
    """One updater pass: if this process holds the lease, regenerate every CRL that has none yet, is
    past half its validity or may lack a revocation, except those of retired CAs (disabled, their last
    certificate expired: is_retired). Returns what it published."""
    async with leases.hold(rt, UPDATER_LEASE, ttl=UPDATER_LEASE_TTL, holder=holder) as held:
        if not held:
            return []
        now = rt.clock.now()
        async with rt.storage.read() as tx:
            records = await tx.cas.list()
            keys = _partitions(records, await _retired(tx, records, now))
            newest = await tx.crls.latest_numbers()
            revoked = await tx.revocations.newest_by_partition()
        due = [
            key
            for key in keys
            if key not in newest
            or newest[key][1] - now <= CRL_VALIDITY - CRL_REFRESH_AFTER
            or _lacks_revocations(key, newest, revoked)
        ]
        return await _publish_each(rt, due)


async def run_updater(rt: Runtime, stop: asyncio.Event, *, interval: float = UPDATER_INTERVAL) -> None:
    """Publish due CRLs until `stop` is set (at start, then every `interval` seconds)."""
    holder = f"crl-updater-{uuid.uuid4().hex[:12]}"
    try:
        for info in await publish_unpublished(rt):
            log.warning(
                "published CRL %d of CA %s partition %d: a revocation was not in its CRL",
                info.number,
                info.ca_id,
                info.partition,
            )
    except OSError as exc:  # the database away for a moment: the lease holder's passes catch up
        log.warning("CRL updater: %s", exc)
    while not stop.is_set():
        try:
            for info in await refresh_due_crls(rt, holder=holder):
                log.info("published CRL %d of CA %s partition %d", info.number, info.ca_id, info.partition)
        except OSError as exc:  # the database went away for a moment; try again next round
            log.warning("CRL updater: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
