"""Signing a CRL off the event loop (ARCHITECTURE rule 9): in a thread, or for a large CRL in a child
process of a small pool that holds no GIL of ours; the entries travel to it as compact text lines."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.serialization import Encoding

from acme_server.services.config import cas
from acme_server.services.runtime import Runtime, key_context
from acme_server.storage import CARecord
from ca_core.authority import CASettings, CertificateAuthority
from ca_core.crl import build_crl
from ca_core.export import load_certificates_pem
from ca_core.keyprotect import KeyEncryptionKey, unseal_private_key
from ca_core.revocation import RevocationReason, RevokedEntry
from ca_core.signer import SoftwareSigner

# From this many entries a CRL is signed in a child process rather than a thread (see sign_in_child).
PROCESS_THRESHOLD = 50_000
# Child processes signing the partitions of one publication at once (_pipelined), kept this long idle.
CRL_SIGNERS = 2
SIGNERS_IDLE = 300.0


def encode(batch: Sequence[tuple[str, datetime, str]]) -> bytes:
    """One batch of revocations as "serial seconds reason" lines: cheap to build between batches on the
    event loop and, unlike a million tuples, cheap to hand to another process (no pickling walk)."""
    return "".join(f"{serial} {int(at.timestamp())} {reason}\n" for serial, at, reason in batch).encode()


def _entries(blobs: Sequence[bytes]) -> Iterator[RevokedEntry]:
    """The entries back from encode's lines. Our own stored serials (format_serial's lowercase hex,
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
class Scope:
    """What one CRL is: its number, validity and, for a partition, the URL its IDP names."""

    number: int
    this_update: datetime
    next_update: datetime
    distribution_point: str | None


def _sign(authority: CertificateAuthority, blobs: Sequence[bytes], scope: Scope) -> bytes:
    crl = build_crl(
        authority,
        _entries(blobs),
        number=scope.number,
        this_update=scope.this_update,
        next_update=scope.next_update,
        distribution_point=scope.distribution_point,
    )
    return crl.public_bytes(Encoding.DER)


def sign_in_child(
    certificate_pem: str,
    sealed_key: bytes,
    kek_text: str,
    blobs: Sequence[bytes],
    scope: Scope,
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


def child_may_sign(record: CARecord) -> bool:
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


SIGNERS = _SignerPool()


def _lower_priority() -> None:
    """In each signer child: a CRL is background work, so requests of the server (this child's
    parent) get the CPU first when both want it (nice 10; the signer still uses any idle core)."""
    os.nice(10)


async def signed_der(
    rt: Runtime,
    record: CARecord,
    blobs: Sequence[bytes],
    scope: Scope,
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
        pool = child or await stack.enter_async_context(SIGNERS.use())
        return await asyncio.get_running_loop().run_in_executor(
            pool,
            sign_in_child,
            record.certificate_pem,
            record.sealed_key,
            rt.kek.to_text(),
            blobs,
            scope,
        )
