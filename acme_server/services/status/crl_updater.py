"""The CRL updater (Boulder's crl-updater): at start-up every process publishes a CRL for a revocation
its CA's newest CRL may lack; then, in one worker or replica at a time under a database lease, every
CRL is regenerated well before its nextUpdate, except those of retired CAs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from acme_server.services import leases
from acme_server.services.runtime import Runtime
from acme_server.services.status import crls
from acme_server.storage import CARecord, Tx

# Regenerate once half the validity has passed: relying parties that fetched the previous CRL just
# before its successor was published still hold one that is valid for days.
CRL_REFRESH_AFTER = crls.CRL_VALIDITY / 2
UPDATER_LEASE = "crl-updater"
UPDATER_LEASE_TTL = timedelta(minutes=10)
UPDATER_INTERVAL = 60.0  # seconds between the updater's looks at the CRLs

log = logging.getLogger("acme_server.crls")


def _by_ca(keys: Sequence[Partition]) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = {}
    for ca_id, partition in keys:
        grouped.setdefault(ca_id, []).append(partition)
    return grouped


async def _publish_each(rt: Runtime, keys: Sequence[Partition]) -> list[crls.CRLInfo]:
    """New CRLs of these partitions, CA by CA."""
    return [
        info
        for ca_id, partitions in _by_ca(keys).items()
        for info in await crls.publish(rt, ca_id, partitions)
    ]


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


async def _retired(tx: Tx, records: Sequence[CARecord], now: datetime) -> set[str]:
    """The ids of the retired CAs among `records` (one indexed MAX per disabled CA)."""
    retired = set()
    for record in (r for r in records if r.status == "disabled"):
        if crls.is_retired(record, await crls.publishing_ends(tx, record, records), now):
            retired.add(record.id)
    return retired


async def publish_unpublished(rt: Runtime) -> list[crls.CRLInfo]:
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


async def refresh_due_crls(rt: Runtime, *, holder: str) -> list[crls.CRLInfo]:
    """One updater pass: if this process holds the lease, regenerate every CRL that has none yet, is
    past half its validity or may lack a revocation, except those of retired CAs (disabled, their last
    certificate expired: crls.is_retired). Returns what it published."""
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
            or newest[key][1] - now <= crls.CRL_VALIDITY - CRL_REFRESH_AFTER
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
