"""CRL generation time for a CA with 10,000, 100,000 and 1,000,000 revoked certificates.

    .venv/bin/python -m bench.crl                       # ca_core.crl.build_crl + DER, each size
    .venv/bin/python -m bench.crl --storage             # also the service path on SQLite, with the
                                                        # event loop's worst stall while it runs
    .venv/bin/python -m bench.crl --sizes 10000,100000 --json /tmp/crl.json
    .venv/bin/python -m bench.crl --partitions 8        # also a CA with 8 CRL partitions, built while a
                                                        # client fetches a CRL from its status listener
    .venv/bin/python -m bench.crl --quick --partitions 8   # 10,000 and 100,000 entries only
    .venv/bin/python -m bench.crl --sizes 1000000 --partitions 16 --only-partitioned
                                                        # the issue-11 targets: build <= 1.2x bare,
                                                        # ACME p99 during the build <= 2x idle

The pure path signs entries made in memory (half with a reason code, as in practice), then builds the
same CRL with cryptography's builders alone (ratio = ours / bare). The storage path
seeds the revocations into a fresh SQLite database in one transaction (a benchmark may seed through
storage), then times services.status.crls.generate_crl — read the revocations, sign off the event loop, store
— while a ticker on the event loop measures how late it gets to run: the server's other requests wait
that long. The partitioned path (--partitions N) seeds the same revocations spread over N partitions
(serial mod N, as issuance does), then times services.status.crls.generate_crls — every partition, one after
the other — while an HTTP client fetches partition 0's CRL from the status app served on the same event
loop, every 10 ms: its latencies are what relying parties see during the build; meanwhile an ACME
client of the ACME app (served on that loop too, as in `serve`) alternates GET directory and HEAD
newNonce every 10 ms from a process of its own: its p99 during the build against its p99 before it is what
ACME clients see. The same
partitions are then built by the bare builder from the same entries (bare ratio = ours / bare, with
ours reading every revocation from the database and storing each CRL). Timings are printed, never
asserted."""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import secrets
import socket
import tempfile
import time
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from acme_server.app import create_app
from acme_server.config import Settings
from acme_server.services.config import cas
from acme_server.services.platform import bootstrap
from acme_server.services.runtime import open_runtime
from acme_server.services.status import crl_signing, crls
from acme_server.sidecar import create_status_app
from acme_server.storage.tables import certificates, revocations
from ca_core.authority import CASettings, CertificateAuthority, create_intermediate, create_root
from ca_core.crl import _issuing_distribution_point as issuing_distribution_point
from ca_core.crl import build_crl
from ca_core.keys import KeyAlgorithm, generate_key
from ca_core.request import Subject
from ca_core.revocation import RevocationReason, RevokedEntry
from ca_core.serials import format_serial, random_serial
from ca_core.signer import SoftwareSigner, signature_hash

SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000)
REASONS = (RevocationReason.UNSPECIFIED, RevocationReason.KEY_COMPROMISE)


def _authority(algorithm: KeyAlgorithm = KeyAlgorithm.EC_prime256v1) -> CertificateAuthority:
    """A root and, under it, the issuing intermediate whose key is of `algorithm`."""
    now = datetime.now(UTC)
    root_signer = SoftwareSigner(generate_key(algorithm))
    settings = CASettings()
    root_cert = create_root(
        Subject(common_name="Bench Root"), root_signer, now=now, validity=timedelta(days=3650),
        serial=random_serial(), settings=settings,
    )  # fmt: skip
    root = CertificateAuthority("root", root_cert, (), root_signer, settings)
    key = generate_key(algorithm)
    inter_cert = create_intermediate(
        root, Subject(common_name="Bench Issuing CA"), key.public_key(), now=now,
        validity=timedelta(days=1825), serial=random_serial(), settings=settings,
    )  # fmt: skip
    return CertificateAuthority("inter", inter_cert, (root_cert,), SoftwareSigner(key), settings)


def bare_crl(
    ca: CertificateAuthority,
    entries: list[RevokedEntry],
    now: datetime,
    *,
    number: int = 1,
    next_update: datetime | None = None,
    distribution_point: str | None = None,
) -> x509.CertificateRevocationList:
    """The same CRL through cryptography alone, used as fast as it goes: every value handed to the
    builders' constructors (no chained setters), the same extensions, the same key."""
    signer = ca.signer
    assert isinstance(signer, SoftwareSigner)
    reasons: dict[RevocationReason, list[x509.Extension[x509.ExtensionType]]] = {
        reason: [x509.Extension(x509.CRLReason.oid, False, x509.CRLReason(reason.to_x509()))]
        for reason in REASONS
        if reason is not RevocationReason.UNSPECIFIED
    }
    revoked = [
        x509.RevokedCertificateBuilder(e.serial, e.revoked_at, reasons.get(e.reason, [])).build()
        for e in entries
    ]
    extensions = [
        x509.Extension(x509.AuthorityKeyIdentifier.oid, False, ca.authority_key_identifier()),
        x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(number)),
    ]
    if distribution_point is not None:
        extensions.append(issuing_distribution_point(distribution_point))
    builder = x509.CertificateRevocationListBuilder(
        ca.certificate.subject, now, next_update or now + timedelta(days=7), extensions, revoked
    )
    return builder.sign(signer.private_key, signature_hash(signer.private_key))


def pure(size: int) -> dict[str, Any]:
    """build_crl and DER encoding of `size` in-memory entries, then the bare builder on the same ones."""
    ca, now = _authority(), datetime.now(UTC)
    entries = [RevokedEntry(random_serial(), now, REASONS[i % 2]) for i in range(size)]
    started = time.perf_counter()
    crl = build_crl(ca, entries, number=1, this_update=now, next_update=now + timedelta(days=7))
    built = time.perf_counter()
    der = crl.public_bytes(Encoding.DER)
    done = time.perf_counter()
    bare = bare_crl(ca, entries, now)
    bare_built = time.perf_counter()
    assert bare.tbs_certlist_bytes == crl.tbs_certlist_bytes  # the same CRL, but for the signature
    return {
        "entries": size, "build_s": built - started, "der_s": done - built, "bytes": len(der),
        "bare_build_s": bare_built - done, "ratio": (built - started) / (bare_built - done),
    }  # fmt: skip


async def _seed(
    rt: Any, ca_id: str, profile_id: str, size: int, partitions: int = 1
) -> list[list[RevokedEntry]]:
    """`size` revoked certificates of the CA, inserted in batches in one transaction, each in the CRL
    partition its serial gives; the same revocations per partition, for the bare builder."""
    now = datetime.now(UTC).replace(microsecond=0)
    entries: list[list[RevokedEntry]] = [[] for _ in range(partitions)]
    placeholder = "-----BEGIN CERTIFICATE-----\nbench\n-----END CERTIFICATE-----\n"
    async with rt.storage.transaction() as tx:
        connection = tx.certificates._connection
        for start in range(0, size, 20_000):
            rows, revoked = [], []
            for i in range(start, min(size, start + 20_000)):
                certificate_id, number = f"bench-{i:08d}", random_serial()
                serial, partition = format_serial(number), number % partitions
                entries[partition].append(RevokedEntry(number, now, REASONS[i % 2]))
                rows.append(
                    {
                        "id": certificate_id, "ca_id": ca_id, "profile_id": profile_id, "serial": serial,
                        "common_name": f"h{i}.bench.example", "friendly_name": "", "status": "revoked",
                        "not_before": now, "not_after": now + timedelta(days=90),
                        "certificate_pem": placeholder, "chain_pem": "", "key_algorithm": "EC_prime256v1",
                        "san_text": "", "fingerprint_sha256": secrets.token_hex(32), "enrollment": "api",
                        "created_at": now, "revoked_at": now, "revocation_reason": REASONS[i % 2].value,
                        "crl_partition": partition,
                    }
                )  # fmt: skip
                revoked.append(
                    {
                        "certificate_id": certificate_id, "ca_id": ca_id, "serial": serial, "revoked_at": now,
                        "reason": REASONS[i % 2].value, "source": "api", "crl_partition": partition,
                    }
                )  # fmt: skip
            await connection.execute(certificates.insert(), rows)
            await connection.execute(revocations.insert(), revoked)
    return entries


async def _ticker(stop: asyncio.Event, worst: list[float]) -> None:
    """How late the event loop runs a 10 ms timer: what every other request would wait."""
    while not stop.is_set():
        planned = time.perf_counter() + 0.01
        await asyncio.sleep(0.01)
        worst[0] = max(worst[0], time.perf_counter() - planned)


async def with_storage(size: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        settings = Settings(data_dir=Path(directory))
        rt = await open_runtime(settings)
        try:
            await bootstrap.ensure_dev_setup(rt)
            ca = await cas.get_ca(rt, "dev-intermediate")
            async with rt.storage.read() as tx:
                profile = await tx.profiles.get_by_name("default")
            assert profile is not None
            seeding = time.perf_counter()
            await _seed(rt, ca.id, profile.id, size)
            seeded = time.perf_counter()
            stop, worst = asyncio.Event(), [0.0]
            ticker = asyncio.create_task(_ticker(stop, worst))
            started = time.perf_counter()
            info = await crls.generate_crl(rt, ca.id)
            generated = time.perf_counter()
            stop.set()
            await ticker
            return {
                "entries": size,
                "seed_s": seeded - seeding,
                "generate_s": generated - started,
                "worst_loop_stall_s": worst[0],
                "bytes": len(info.der),
            }
        finally:
            await rt.storage.close()


async def _fetch(url: str, stop: asyncio.Event, latencies: list[tuple[float, float]]) -> None:
    """GET `url` every 10 ms until `stop`, recording (when it was sent, its latency) of each."""
    async with httpx.AsyncClient(timeout=60) as http:
        while not stop.is_set():
            started = time.perf_counter()
            response = await http.get(url)
            latencies.append((started, time.perf_counter() - started))
            response.raise_for_status()
            await asyncio.sleep(0.01)


def _acme_client(base: str, stop: EventType, results: Connection) -> None:
    """In a process of its own, as ACME clients are: GET directory and HEAD newNonce in turn, every
    10 ms, until `stop`; sends back (when it was sent, its latency) of each. perf_counter is the
    system-wide monotonic clock, so its times compare with the server process's."""
    latencies: list[tuple[float, float]] = []
    with httpx.Client(timeout=60) as http:
        while not stop.is_set():
            for method, path in (("GET", "/acme/directory"), ("HEAD", "/acme/new-nonce")):
                started = time.perf_counter()
                response = http.request(method, base + path)
                latencies.append((started, time.perf_counter() - started))
                response.raise_for_status()
                time.sleep(0.01)
            if len(latencies) == 2:
                results.send("ready")
    results.send(latencies)


class _ExternalClient:
    """_acme_client in a spawned process, started before the idle window."""

    def __init__(self, base: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.stop = context.Event()
        self.results, theirs = context.Pipe(duplex=False)
        self.process = context.Process(target=_acme_client, args=(base, self.stop, theirs), daemon=True)
        self.process.start()

    async def ready(self) -> None:
        assert await asyncio.to_thread(self.results.recv) == "ready"

    async def latencies(self) -> list[tuple[float, float]]:
        self.stop.set()
        received: list[tuple[float, float]] = await asyncio.to_thread(self.results.recv)
        await asyncio.to_thread(self.process.join, 30)
        return received


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _serve(app: Any, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """An app on this event loop (the loop the CRLs are built on, as in `serve`)."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises why it could not start
        await asyncio.sleep(0.01)
    return server, task


def _bare_partitions(
    ca: CertificateAuthority, infos: list[crls.CRLInfo], entries: list[list[RevokedEntry]]
) -> float:
    """Seconds for the bare builder to sign the same partitions (each with its issuing distribution
    point) from the same entries, in memory, and DER-encode them; each checked to be of the same size."""
    total = 0.0
    for info, part in zip(infos, entries, strict=True):
        ours = x509.load_der_x509_crl(info.der)
        started = time.perf_counter()
        bare = bare_crl(
            ca, part, ours.last_update_utc, number=info.number,
            next_update=ours.next_update_utc, distribution_point=ca.settings.crl_url_of(info.partition),
        )  # fmt: skip
        bare.public_bytes(Encoding.DER)
        total += time.perf_counter() - started
        assert len(bare) == len(ours), info.partition  # the same revocations (in another order)
    return total


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


async def with_partitions(size: int, partitions: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        settings = Settings(data_dir=Path(directory))
        rt = await open_runtime(settings)
        try:
            await bootstrap.ensure_dev_setup(rt)
            ca = await cas.update_ca_settings(rt, "dev-intermediate", crl_partitions=partitions)
            async with rt.storage.read() as tx:
                profile = await tx.profiles.get_by_name("default")
            assert profile is not None
            seeding = time.perf_counter()
            entries = await _seed(rt, ca.id, profile.id, size, partitions)
            seeded = time.perf_counter()
            # Every partition published once, so the ACME app's CRL updater finds nothing due.
            await crls.generate_crls(rt, ca.id)
            port, acme_port = _free_port(), _free_port()
            status_app = create_status_app(settings, runtime=rt, read_only=False)
            acme_app = create_app(settings, runtime=rt)
            servers = [await _serve(status_app, port), await _serve(acme_app, acme_port)]
            stop, worst = asyncio.Event(), [0.0]
            latencies = list[tuple[float, float]]()
            client = _ExternalClient(f"http://127.0.0.1:{acme_port}")
            await client.ready()
            tasks = [
                asyncio.create_task(_ticker(stop, worst)),
                asyncio.create_task(_fetch(f"http://127.0.0.1:{port}/crl/{ca.id}.crl", stop, latencies)),
            ]
            await asyncio.sleep(3)  # the same requests before the build: the idle latency
            idle_stall, worst[0] = worst[0], 0.0
            started = time.perf_counter()
            infos = await crls.generate_crls(rt, ca.id)
            generated = time.perf_counter()
            stop.set()
            await asyncio.gather(*tasks)
            acme = await client.latencies()
            idle = [latency for sent, latency in latencies if sent < started]
            during = [latency for sent, latency in latencies if started <= sent < generated]
            acme_idle = [latency for sent, latency in acme if sent < started]
            acme_during = [latency for sent, latency in acme if started <= sent < generated]
            for server, serving in servers:
                server.should_exit = True
                await serving
            bare = _bare_partitions(await cas.load_authority(rt, ca.id), infos, entries)
            return {
                "entries": size,
                "partitions": partitions,
                "signers": crl_signing.CRL_SIGNERS,
                "seed_s": seeded - seeding,
                "generate_all_s": generated - started,
                "per_partition_s": (generated - started) / partitions,
                "largest_partition_bytes": max(len(info.der) for info in infos),
                "worst_loop_stall_s": worst[0],
                "idle_loop_stall_s": idle_stall,
                "requests": len(during),
                "idle_p50_s": _percentile(idle, 0.5),
                "idle_p99_s": _percentile(idle, 0.99),
                "request_p50_s": _percentile(during, 0.5),
                "request_p99_s": _percentile(during, 0.99),
                "request_max_s": max(during, default=0.0),
                "acme_requests": len(acme_during),
                "acme_idle_p99_s": _percentile(acme_idle, 0.99),
                "acme_p50_s": _percentile(acme_during, 0.5),
                "acme_p99_s": _percentile(acme_during, 0.99),
                "acme_p99_ratio": _percentile(acme_during, 0.99) / max(_percentile(acme_idle, 0.99), 1e-9),
                "bare_all_s": bare,
                "bare_ratio": (generated - started) / bare,
            }
        finally:
            await rt.storage.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.crl", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="revoked entries per CRL")
    parser.add_argument("--storage", action="store_true", help="also time the service path on SQLite")
    parser.add_argument(
        "--partitions", type=int, metavar="N", help="also the partitioned path: a CA with N CRL partitions"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"sizes {','.join(map(str, QUICK_SIZES))} only (a shared machine)",
    )
    parser.add_argument(
        "--signers",
        type=int,
        default=crl_signing.CRL_SIGNERS,
        help=f"child processes signing partitions at once (default {crl_signing.CRL_SIGNERS})",
    )
    parser.add_argument(
        "--only-partitioned", action="store_true", help="skip the single-CRL pass (with --partitions)"
    )
    parser.add_argument("--json", help="also write the results to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    crl_signing.CRL_SIGNERS = args.signers  # read when the signer pool is spawned
    sizes = list(QUICK_SIZES) if args.quick else [int(s) for s in args.sizes.split(",") if s.strip()]
    results: dict[str, list[dict[str, Any]]] = {"pure": [], "storage": [], "partitioned": []}
    print(
        f"{'entries':>10}  {'build s':>8}  {'bare s':>7}  {'ratio':>5}  {'DER s':>6}  {'MB':>6}"
        "   ca_core.crl.build_crl beside the bare builder"
    )
    for size in [] if args.only_partitioned else sizes:
        row = pure(size)
        results["pure"].append(row)
        megabytes = row["bytes"] / 1e6
        print(
            f"{size:>10}  {row['build_s']:>8.2f}  {row['bare_build_s']:>7.2f}  {row['ratio']:>5.2f}  "
            f"{row['der_s']:>6.2f}  {megabytes:>6.1f}",
            flush=True,
        )
    if args.storage:
        header = f"{'entries':>10}  {'seed s':>7}  {'generate s':>10}  {'loop stall s':>12}"
        print(f"\n{header}   services.status.crls.generate_crl")
        for size in sizes:
            row = asyncio.run(with_storage(size))
            results["storage"].append(row)
            print(
                f"{size:>10}  {row['seed_s']:>7.1f}  {row['generate_s']:>10.2f}  "
                f"{row['worst_loop_stall_s']:>12.3f}",
                flush=True,
            )
    if args.partitions:
        header = (
            f"{'entries':>10}  {'parts':>5}  {'seed s':>7}  {'all s':>6}  {'each s':>6}  {'loop stall s':>12}"
            f"  {'idle p50/p99 ms':>15}  {'req p50 ms':>10}  {'req p99 ms':>10}  {'req max ms':>10}"
            f"  {'bare s':>6}  {'ratio':>5}  {'ACME p99 idle/build ms':>22}  {'x':>4}"
        )
        print(f"\n{header}   services.status.crls.generate_crls, a client fetching a CRL meanwhile")
        for size in sizes:
            row = asyncio.run(with_partitions(size, args.partitions))
            results["partitioned"].append(row)
            print(
                f"{size:>10}  {row['partitions']:>5}  {row['seed_s']:>7.1f}  {row['generate_all_s']:>6.2f}  "
                f"{row['per_partition_s']:>6.2f}  {row['worst_loop_stall_s']:>12.3f}  "
                f"{row['idle_p50_s'] * 1000:>7.1f}/{row['idle_p99_s'] * 1000:<7.1f}  "
                f"{row['request_p50_s'] * 1000:>10.1f}  {row['request_p99_s'] * 1000:>10.1f}  "
                f"{row['request_max_s'] * 1000:>10.1f}  "
                f"{row['bare_all_s']:>6.2f}  {row['bare_ratio']:>5.2f}  "
                f"{row['acme_idle_p99_s'] * 1000:>10.1f}/{row['acme_p99_s'] * 1000:<11.1f}  "
                f"{row['acme_p99_ratio']:>4.1f}",
                flush=True,
            )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
