"""CRL use-cases: number, build and store a CA's CRL from its revocations; read the latest."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.serialization import Encoding

from acme_server.services import cas
from acme_server.services.runtime import Runtime
from acme_server.storage import CRLRecord
from ca_core.crl import build_crl
from ca_core.revocation import RevocationReason, RevokedEntry
from ca_core.serials import parse_serial

CRL_VALIDITY = timedelta(days=7)


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


async def generate_crl(rt: Runtime, ca_ref: str, *, validity: timedelta = CRL_VALIDITY) -> CRLInfo:
    """A new CRL with the next number; the number is taken in its own transaction so it stays
    monotonic across workers and replicas even when two generations overlap."""
    async with rt.storage.transaction() as tx:
        record = await cas.find_record(tx, ca_ref)
        number = await tx.cas.next_crl_number(record.id)
    async with rt.storage.read() as tx:
        revocations = await tx.revocations.list_for_ca(record.id)
    authority = cas.authority_from_record(rt, record)
    entries = [
        RevokedEntry(parse_serial(r.serial), r.revoked_at, RevocationReason(r.reason)) for r in revocations
    ]
    now = rt.clock.now()
    crl = await asyncio.to_thread(
        build_crl, authority, entries, number=number, this_update=now, next_update=now + validity
    )
    async with rt.storage.transaction() as tx:
        stored = await tx.crls.store(
            record.id,
            number=number,
            this_update=now,
            next_update=now + validity,
            der=crl.public_bytes(Encoding.DER),
        )
    return _info(stored)


async def latest_crl(rt: Runtime, ca_ref: str) -> CRLInfo:
    """The newest CRL of a CA, generating the first one on demand."""
    async with rt.storage.read() as tx:
        record = await cas.find_record(tx, ca_ref)
        latest = await tx.crls.latest(record.id)
    if latest is None or latest.next_update <= rt.clock.now():
        return await generate_crl(rt, record.id)
    return _info(latest)


async def list_crls(rt: Runtime, ca_ref: str) -> list[CRLInfo]:
    async with rt.storage.read() as tx:
        record = await cas.find_record(tx, ca_ref)
        return [_info(r) for r in await tx.crls.list_for_ca(record.id)]
