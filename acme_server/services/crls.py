"""CRL use-cases: number, build and store a CA's CRL from its revocations; read the latest (generating
it on demand in the main server, never in the read-only status sidecar); and the updater that
regenerates every CA's CRL well before its nextUpdate, in one worker or replica at a time under a
database lease (Boulder's crl-updater)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import multiprocessing
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.serialization import Encoding

from acme_server.errors import NotFound
from acme_server.services import cas
from acme_server.services.runtime import Runtime, key_context
from acme_server.storage import CARecord, CRLRecord
from ca_core.authority import CASettings, CertificateAuthority
from ca_core.crl import build_crl
from ca_core.export import load_certificates_pem
from ca_core.keyprotect import KeyEncryptionKey, unseal_private_key
from ca_core.revocation import RevocationReason, RevokedEntry
from ca_core.serials import parse_serial
from ca_core.signer import SoftwareSigner

CRL_VALIDITY = timedelta(days=7)
# From this many entries a CRL is signed in a child process rather than a thread (see _sign_in_child).
PROCESS_THRESHOLD = 50_000
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

    @property
    def pem(self) -> str:
        body = base64.b64encode(self.der).decode()
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        return "-----BEGIN X509 CRL-----\n" + "\n".join(lines) + "\n-----END X509 CRL-----\n"


def _info(record: CRLRecord) -> CRLInfo:
    return CRLInfo(record.id, record.ca_id, record.number, record.this_update, record.next_update, record.der)


def _encode(batch: Sequence[tuple[str, datetime, str]]) -> bytes:
    """One batch of revocations as "serial seconds reason" lines: cheap to build between batches on the
    event loop and, unlike a million tuples, cheap to hand to another process (no pickling walk)."""
    return "".join(f"{serial} {int(at.timestamp())} {reason}\n" for serial, at, reason in batch).encode()


def _entries(blobs: Sequence[bytes]) -> Iterator[RevokedEntry]:
    for blob in blobs:
        for line in blob.decode().splitlines():
            serial, seconds, reason = line.split(" ")
            yield RevokedEntry(
                parse_serial(serial), datetime.fromtimestamp(int(seconds), UTC), RevocationReason(reason)
            )


def _sign(
    authority: CertificateAuthority,
    blobs: Sequence[bytes],
    number: int,
    this_update: datetime,
    next_update: datetime,
) -> bytes:
    crl = build_crl(
        authority, _entries(blobs), number=number, this_update=this_update, next_update=next_update
    )
    return crl.public_bytes(Encoding.DER)


def _sign_in_child(
    certificate_pem: str,
    sealed_key: bytes,
    kek_text: str,
    blobs: Sequence[bytes],
    number: int,
    this_update: datetime,
    next_update: datetime,
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
    return _sign(authority, blobs, number, this_update, next_update)


async def _signed_der(
    rt: Runtime,
    record: CARecord,
    blobs: Sequence[bytes],
    *,
    in_process: bool,
    number: int,
    now: datetime,
    end: datetime,
) -> bytes:
    """Entries, signature and DER off the event loop (ARCHITECTURE rule 9): in a thread, or for a
    large CRL in a child process that holds no GIL of ours."""
    if not in_process:
        return await asyncio.to_thread(_sign, cas.authority_from_record(rt, record), blobs, number, now, end)
    assert record.certificate_pem is not None
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    try:
        return await asyncio.get_running_loop().run_in_executor(
            pool,
            _sign_in_child,
            record.certificate_pem,
            record.sealed_key,
            rt.kek.to_text(),
            blobs,
            number,
            now,
            end,
        )
    finally:
        await asyncio.to_thread(pool.shutdown)  # joining the child blocks: not on the event loop


async def generate_crl(
    rt: Runtime,
    ca_ref: str,
    *,
    validity: timedelta = CRL_VALIDITY,
    process_threshold: int = PROCESS_THRESHOLD,
) -> CRLInfo:
    """A new CRL with the next number; the number is taken in its own transaction so it stays
    monotonic across workers and replicas even when two generations overlap. From
    `process_threshold` entries on it is signed in a child process."""
    async with rt.storage.transaction() as tx:
        record = await cas.find_record(tx, ca_ref)
        number = await tx.cas.next_crl_number(record.id)
    cas.authority_from_record(rt, record)  # a CA without a certificate is refused before any work
    blobs, count = [], 0
    async with rt.storage.read() as tx:
        async for batch in tx.revocations.stream_for_ca(record.id):
            blobs.append(_encode(batch))
            count += len(batch)
    now = rt.clock.now()
    # A key in a token signs in this process (the child has no session with the token, and only the
    # digest crosses to it); a sealed key of a large CRL signs in the child.
    in_process = count >= process_threshold and record.key_uri is None
    der = await _signed_der(
        rt, record, blobs, in_process=in_process, number=number, now=now, end=now + validity
    )
    async with rt.storage.transaction() as tx:
        stored = await tx.crls.store(
            record.id, number=number, this_update=now, next_update=now + validity, der=der
        )
    return _remember(rt, _info(stored))


def _remember(rt: Runtime, info: CRLInfo) -> CRLInfo:
    """Keep the newest CRL of each CA in this process, so a request for an unchanged CRL reads one
    small row instead of the whole DER (tens of MB for a large CA)."""
    cached = rt.status_cache.get(("crl", info.ca_id))
    if not isinstance(cached, CRLInfo) or cached.number < info.number:
        rt.status_cache[("crl", info.ca_id)] = info
    return info


async def _newest(rt: Runtime, ca_ref: str) -> tuple[str, CRLInfo | None]:
    """(CA id, its newest stored CRL or None), from the process cache when the number is current."""
    async with rt.storage.read() as tx:
        record = await cas.find_record(tx, ca_ref)
        current = (await tx.crls.latest_numbers()).get(record.id)
        if current is None:
            return record.id, None
        cached = rt.status_cache.get(("crl", record.id))
        if isinstance(cached, CRLInfo) and cached.number == current[0]:
            return record.id, cached
        stored = await tx.crls.get_number(record.id, current[0])
    return record.id, _remember(rt, _info(stored)) if stored is not None else None


async def latest_crl(rt: Runtime, ca_ref: str) -> CRLInfo:
    """The newest CRL of a CA, generating one on demand when there is none or it has expired."""
    ca_id, latest = await _newest(rt, ca_ref)
    if latest is None or latest.next_update <= rt.clock.now():
        return await generate_crl(rt, ca_id)
    return latest


async def published_crl(rt: Runtime, ca_ref: str) -> CRLInfo:
    """The newest stored CRL, never generating one: what the read-only status sidecar serves."""
    _, latest = await _newest(rt, ca_ref)
    if latest is None:
        raise NotFound("published CRL of CA", ca_ref)
    return latest


async def list_crls(rt: Runtime, ca_ref: str) -> list[CRLInfo]:
    async with rt.storage.read() as tx:
        record = await cas.find_record(tx, ca_ref)
        return [_info(r) for r in await tx.crls.list_for_ca(record.id)]


def _lacks_revocations(
    ca_id: str, newest: dict[str, tuple[int, datetime, datetime]], revoked: dict[str, datetime]
) -> bool:
    """The CA has a revocation made after its newest CRL: one whose own CRL was never
    published (the process was killed between the two), or not yet."""
    return ca_id in revoked and (ca_id not in newest or revoked[ca_id] > newest[ca_id][2])


async def publish_unpublished(rt: Runtime) -> list[CRLInfo]:
    """A CRL for every CA with a revocation its newest CRL may lack (RFC 5280 §3.3: a revoked
    certificate is listed in the CRL published next). Run at start-up by every process, without the
    updater's lease: a killed process may hold it for UPDATER_LEASE_TTL, and two processes
    generating at once only spend a CRL number each."""
    async with rt.storage.read() as tx:
        records = [r.id for r in await tx.cas.list() if r.certificate_pem is not None]
        newest = await tx.crls.latest_numbers()
        revoked = await tx.revocations.newest_by_ca()
    return [await generate_crl(rt, ca_id) for ca_id in records if _lacks_revocations(ca_id, newest, revoked)]


async def refresh_due_crls(rt: Runtime, *, holder: str) -> list[CRLInfo]:
    """One updater pass: if this process holds the lease, regenerate every CRL that has none yet, is
    past half its validity or may lack a revocation. Returns what it published."""
    now = rt.clock.now()
    async with rt.storage.transaction() as tx:
        if not await tx.leases.try_acquire(UPDATER_LEASE, holder, now=now, ttl=UPDATER_LEASE_TTL):
            return []
        records = [r for r in await tx.cas.list() if r.certificate_pem is not None]
        newest = await tx.crls.latest_numbers()
        revoked = await tx.revocations.newest_by_ca()
    due = [
        r.id
        for r in records
        if r.id not in newest
        or newest[r.id][1] - now <= CRL_VALIDITY - CRL_REFRESH_AFTER
        or _lacks_revocations(r.id, newest, revoked)
    ]
    return [await generate_crl(rt, ca_id) for ca_id in due]


async def run_updater(rt: Runtime, stop: asyncio.Event, *, interval: float = UPDATER_INTERVAL) -> None:
    """Publish due CRLs until `stop` is set (at start, then every `interval` seconds)."""
    holder = f"crl-updater-{uuid.uuid4().hex[:12]}"
    try:
        for info in await publish_unpublished(rt):
            log.warning("published CRL %d of CA %s: a revocation was not in its CRL", info.number, info.ca_id)
    except OSError as exc:  # the database away for a moment: the lease holder's passes catch up
        log.warning("CRL updater: %s", exc)
    while not stop.is_set():
        try:
            for info in await refresh_due_crls(rt, holder=holder):
                log.info("published CRL %d of CA %s", info.number, info.ca_id)
        except OSError as exc:  # the database went away for a moment; try again next round
            log.warning("CRL updater: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
    with contextlib.suppress(OSError):  # let another process take over at once
        async with rt.storage.transaction() as tx:
            await tx.leases.release(UPDATER_LEASE, holder)
