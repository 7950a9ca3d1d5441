"""CRL use-cases: number, build and store a CA's CRL from its revocations; read the latest (generating
it on demand in the main server, never in the read-only status sidecar); and the updater that
regenerates every CA's CRL well before its nextUpdate, in one worker or replica at a time under a
database lease (Boulder's crl-updater)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.serialization import Encoding

from acme_server.errors import NotFound
from acme_server.services import cas
from acme_server.services.runtime import Runtime
from acme_server.storage import CRLRecord, RevocationRecord
from ca_core.authority import CertificateAuthority
from ca_core.crl import build_crl
from ca_core.revocation import RevocationReason, RevokedEntry
from ca_core.serials import parse_serial

CRL_VALIDITY = timedelta(days=7)
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


def _sign(
    authority: CertificateAuthority,
    revocations: Sequence[RevocationRecord],
    number: int,
    this_update: datetime,
    next_update: datetime,
) -> bytes:
    """Entries, signature and DER in one worker thread: for a million revocations this is seconds of
    CPU that must not run on the event loop (ARCHITECTURE rule 9)."""
    entries = (
        RevokedEntry(parse_serial(r.serial), r.revoked_at, RevocationReason(r.reason)) for r in revocations
    )
    crl = build_crl(authority, entries, number=number, this_update=this_update, next_update=next_update)
    return crl.public_bytes(Encoding.DER)


async def generate_crl(rt: Runtime, ca_ref: str, *, validity: timedelta = CRL_VALIDITY) -> CRLInfo:
    """A new CRL with the next number; the number is taken in its own transaction so it stays
    monotonic across workers and replicas even when two generations overlap."""
    async with rt.storage.transaction() as tx:
        record = await cas.find_record(tx, ca_ref)
        number = await tx.cas.next_crl_number(record.id)
    async with rt.storage.read() as tx:
        revocations = await tx.revocations.list_for_ca(record.id)
    authority = cas.authority_from_record(rt, record)
    now = rt.clock.now()
    der = await asyncio.to_thread(_sign, authority, revocations, number, now, now + validity)
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


async def refresh_due_crls(rt: Runtime, *, holder: str) -> list[CRLInfo]:
    """One updater pass: if this process holds the lease, regenerate every CRL that has none yet or is
    past half its validity. Returns what it published."""
    now = rt.clock.now()
    async with rt.storage.transaction() as tx:
        if not await tx.leases.try_acquire(UPDATER_LEASE, holder, now=now, ttl=UPDATER_LEASE_TTL):
            return []
        records = [r for r in await tx.cas.list() if r.certificate_pem is not None]
        newest = await tx.crls.latest_numbers()
    due = [
        r.id
        for r in records
        if r.id not in newest or newest[r.id][1] - now <= CRL_VALIDITY - CRL_REFRESH_AFTER
    ]
    return [await generate_crl(rt, ca_id) for ca_id in due]


async def run_updater(rt: Runtime, stop: asyncio.Event, *, interval: float = UPDATER_INTERVAL) -> None:
    """Publish due CRLs until `stop` is set (at start, then every `interval` seconds)."""
    holder = f"crl-updater-{uuid.uuid4().hex[:12]}"
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
