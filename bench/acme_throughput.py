"""ACME issuance throughput: our server against Pebble (the reference ACME server), measured in one run
on this machine, reported as ratios to Pebble. See bench/README.md.

    python -m bench.acme_throughput [--orders 300] [--concurrency 16] [--json PATH]

Each target is started fresh (its own database) with the conformance suite's start-up helpers. The same
client drives every target through the same flow: N orders, C at a time, each newOrder → POST the
authorization → answer its http-01 challenge (served by bench/responder.py, validated for real by both
servers) → poll until ready → finalize with a pre-generated P-256 CSR → poll until valid → download.
Variant `reuse` orders names whose authorization the account already holds (our authorization reuse,
Pebble's PEBBLE_AUTHZREUSE=100), so each order is ready at once: the CA's own cost. A target that
finishes no order for --stall-timeout seconds is reported as stalled and measured again, restarted, at
half the concurrency."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from bench.client import Account, Issued, issue
from ca_core.jose import jwk_of
from conformance.servers import (
    STARTUP_TIMEOUT,
    ChallTestSrv,
    Process,
    StartupError,
    Target,
    is_postgresql,
    session_database,
    start_ours,
    start_pebble,
    tcp_open,
    wait_until,
)
from tests.acme.client import csr_der

DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/postgres"
VARIANTS = ("fresh", "reuse")
REFERENCE = "pebble"


@dataclass(frozen=True)
class Spec:
    """A server configuration to measure."""

    name: str  # as --targets spells it
    label: str  # as the table shows it
    ours: bool
    postgresql: bool = False
    workers: int = 1


SPECS = (
    Spec("pebble", "pebble", ours=False),
    Spec("ours-sqlite", "ours[sqlite]", ours=True),
    Spec("ours-pg", "ours[postgresql]", ours=True, postgresql=True),
    Spec("ours-pg-2w", "ours[postgresql, 2 workers]", ours=True, postgresql=True, workers=2),
)


# --- CPU accounting (Linux /proc): the server's process group, and its PostgreSQL backends


_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat from field 3 (state) on; the command name may hold spaces and parentheses."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def _cpu_seconds(fields: list[str]) -> float:
    """utime + stime + cutime + cstime (fields 14-17, counted from 1)."""
    return sum(int(value) for value in fields[11:15]) / _TICK


def process_cpu(pids: Sequence[int]) -> dict[int, float]:
    found = {}
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            found[pid] = _cpu_seconds(fields)
    return found


def group_pids(group: int) -> list[int]:
    """Every process whose process group is `group` (our server's uvicorn workers included)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[2]) == group:  # field 5: pgrp
                pids.append(int(entry.name))
    return pids


async def backend_pids(database_url: str | None) -> list[int]:
    """The PostgreSQL server processes serving `database_url`'s database (none for SQLite)."""
    if database_url is None or not is_postgresql(database_url):
        return []
    name = urlsplit(database_url).path.lstrip("/")
    connection = await asyncpg.connect(database_url.replace("+asyncpg", ""), database="postgres", timeout=10)
    try:
        rows = await connection.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", name)
    finally:
        await connection.close()
    return [int(row["pid"]) for row in rows]


@dataclass
class CpuMeter:
    """CPU seconds the server (and its database backends) used between start() and stop()."""

    group: int
    database_url: str | None
    before: dict[int, float] = field(default_factory=dict)

    async def _sample(self) -> dict[int, float]:
        return process_cpu(group_pids(self.group) + await backend_pids(self.database_url))

    async def start(self) -> None:
        self.before = await self._sample()

    async def stop(self) -> float:
        after = await self._sample()
        # A process seen only at the end counts whole; one gone by then is lost (backends are pooled).
        return sum(seconds - self.before.get(pid, 0.0) for pid, seconds in after.items())


# --- one batch of orders, watched for stalls


@dataclass
class Batch:
    """What one batch of orders gave: outcomes in order (Issued, or the error text), wall time, and
    whether it was stopped because no order finished for the stall timeout."""

    outcomes: list[Issued | str | None]
    seconds: float
    stalled: bool


async def run_orders(
    account: Account,
    jobs: Sequence[tuple[str, bytes]],
    concurrency: int,
    stall_timeout: float,
    max_seconds: float | None = None,
) -> Batch:
    """`jobs` (name, CSR) issued by `concurrency` workers, worker w taking jobs w, w+C, w+2C, ... (so in
    the reuse variant a name is never in two orders at once). After `max_seconds` no order is started
    (those left have the outcome None); the ones in flight finish."""
    outcomes: list[Issued | str | None] = [None] * len(jobs)
    started = last_progress = time.monotonic()

    async def worker(first: int) -> None:
        nonlocal last_progress
        for index in range(first, len(jobs), concurrency):
            if max_seconds is not None and time.monotonic() - started > max_seconds:
                return
            try:
                outcomes[index] = await issue(account, *jobs[index])
            except Exception as error:  # every failure is a result to report, not a crash
                outcomes[index] = f"{type(error).__name__}: {error}"
            last_progress = time.monotonic()

    tasks = [asyncio.create_task(worker(w)) for w in range(min(concurrency, len(jobs)))]
    stalled = False
    pending: set[asyncio.Task[None]] = set(tasks)
    while pending:
        _, pending = await asyncio.wait(pending, timeout=0.5)
        if pending and time.monotonic() - last_progress > stall_timeout:
            stalled = True
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=10)
            break
    return Batch(outcomes, time.monotonic() - started, stalled)


# --- one variant on one running target


@dataclass
class Measurement:
    target: str
    variant: str
    concurrency: int
    orders: int  # asked for
    started: int = 0  # begun before the time cap
    ok: int = 0
    errors: int = 0
    reused: int = 0  # orders that were ready at once
    seconds: float = 0.0
    orders_per_second: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    server_cpu_ms_per_order: float | None = None
    client_cpu_ms_per_order: float | None = None
    requests_per_order: float | None = None
    stalled_at: list[int] = field(default_factory=list)  # concurrencies at which it stalled first
    stalls: list[str] = field(default_factory=list)  # what each stall looked like
    error_samples: list[str] = field(default_factory=list)

    @property
    def measured(self) -> bool:
        return self.ok > 0 and self.concurrency not in self.stalled_at


def _names(prefix: str, count: int) -> list[str]:
    tag = secrets.token_hex(3)
    return [f"{prefix}{i}-{tag}.bench.example.com" for i in range(count)]


def _jobs(names: Sequence[str]) -> list[tuple[str, bytes]]:
    """(name, CSR of a fresh P-256 key): made before the timed region."""
    return [(name, csr_der(name, key=ec.generate_private_key(ec.SECP256R1()))) for name in names]


def _check(outcome: Issued | str | None, name: str) -> str | None:
    """The error of one outcome: its failure, or a chain whose leaf does not name the order's name."""
    if outcome is None:
        return "not finished"
    if isinstance(outcome, str):
        return outcome
    try:
        leaf = x509.load_pem_x509_certificates(outcome.chain)[0]
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound) as error:
        return f"certificate: unreadable chain: {error}"
    if name not in names.get_values_for_type(x509.DNSName):
        return f"certificate: does not name {name}"
    return None


def _percentile(values: list[float], percent: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def summarize(result: Measurement, jobs: Sequence[tuple[str, bytes]], batch: Batch) -> None:
    latencies = []
    for (name, _), outcome in zip(jobs, batch.outcomes, strict=True):
        if outcome is None and not batch.stalled:
            continue  # not started: the time cap came first
        result.started += 1
        error = _check(outcome, name)
        if error is None and isinstance(outcome, Issued):
            result.ok += 1
            result.reused += outcome.reused
            latencies.append(outcome.seconds * 1000)
        else:
            result.errors += 1
            if len(result.error_samples) < 5 and error not in result.error_samples:
                result.error_samples.append(str(error))
    result.seconds = batch.seconds
    result.orders_per_second = result.ok / batch.seconds if batch.seconds else 0.0
    result.p50_ms = _percentile(latencies, 50)
    result.p99_ms = _percentile(latencies, 99)


@dataclass(frozen=True)
class Bounds:
    """How long a batch may go without an order finishing, and how long the timed batch may start
    orders for."""

    stall_timeout: float
    max_seconds: float


async def measure_variant(
    instance: Instance, key: ec.EllipticCurvePrivateKey, result: Measurement, bounds: Bounds
) -> Batch:
    """Warm-up (C fresh orders: connections, caches, and the reuse variant's authorizations), then the
    timed N orders; fills `result` and returns the timed batch (or the warm-up's, when that stalled)."""
    target, concurrency, stall_timeout = instance.target, result.concurrency, bounds.stall_timeout
    warm_names = _names("w", concurrency)
    if result.variant == "reuse":
        timed_names = [warm_names[i % concurrency] for i in range(result.orders)]
    else:
        timed_names = _names("f", result.orders)
    warm_jobs, timed_jobs = _jobs(warm_names), _jobs(timed_names)
    timeout = httpx.Timeout(max(60.0, 2 * stall_timeout))
    limits = httpx.Limits(max_connections=concurrency + 2, max_keepalive_connections=concurrency + 2)
    async with httpx.AsyncClient(verify=target.ssl_context(), timeout=timeout, limits=limits) as http:
        account = await Account.register(http, target.directory_url, key)
        warm = await run_orders(account, warm_jobs, concurrency, stall_timeout)
        if warm.stalled:
            summarize(result, warm_jobs, warm)
            return warm
        meter = CpuMeter(target.process.popen.pid, instance.database_url)
        await meter.start()
        requests_before, client_before = account.requests, time.process_time()
        batch = await run_orders(account, timed_jobs, concurrency, stall_timeout, bounds.max_seconds)
        client_cpu = time.process_time() - client_before
        server_cpu = await meter.stop()
        summarize(result, timed_jobs, batch)
        if result.ok:
            result.server_cpu_ms_per_order = server_cpu * 1000 / result.ok
            result.client_cpu_ms_per_order = client_cpu * 1000 / result.ok
            result.requests_per_order = (account.requests - requests_before) / result.started
        return batch


# --- targets


@contextlib.contextmanager
def responder(target: Target, thumbprint: str, workdir: Path) -> Iterator[Process]:
    """bench/responder.py on the target's http-01 port."""
    argv = [sys.executable, "-m", "bench.responder", "--port", str(target.http01_port)]
    process = Process("responder", [*argv, "--thumbprint", thumbprint], log=workdir / "responder.log")
    try:
        wait_until(
            lambda: tcp_open(target.http01_port), what="responder", process=process, timeout=STARTUP_TIMEOUT
        )
        yield process
    finally:
        process.stop()


@dataclass(frozen=True)
class Instance:
    """A running target and the database it uses (None: SQLite, or Pebble's memory)."""

    target: Target
    database_url: str | None


@contextlib.contextmanager
def running(spec: Spec, workdir: Path, context: RunContext) -> Iterator[Instance]:
    """A fresh instance of `spec` (a new database) with its responder."""
    workdir.mkdir(parents=True)
    with contextlib.ExitStack() as stack:
        database_url: str | None = None
        if not spec.ours:
            target: Target = start_pebble(
                workdir, context.challtestsrv, environment={"PEBBLE_AUTHZREUSE": "100"}
            )
        else:
            admin_url = context.admin_url if spec.postgresql else None
            database_url = stack.enter_context(session_database(admin_url))
            target = start_ours(
                workdir, context.challtestsrv, database_url=database_url, workers=spec.workers
            )
        stack.callback(target.stop)
        stack.enter_context(responder(target, context.thumbprint, workdir))
        yield Instance(target, database_url)


class Instances:
    """The current instance of one target, started on first use and replaced after a stall."""

    def __init__(self, spec: Spec, context: RunContext) -> None:
        self.spec, self.context = spec, context
        self.started = 0
        self._stack = contextlib.ExitStack()
        self._current: Instance | None = None

    def current(self) -> Instance:
        if self._current is None:
            self.started += 1
            workdir = self.context.workdir / f"{self.spec.name}-{self.started}"
            self._current = self._stack.enter_context(running(self.spec, workdir, self.context))
        return self._current

    def discard(self) -> None:
        """Stop the current instance (a wedged server is not measured again)."""
        self._current = None
        self._stack.close()
        self._stack = contextlib.ExitStack()

    def close(self) -> None:
        self.discard()


def measure_with_backoff(
    instances: Instances, variant: str, concurrency: int, args: argparse.Namespace
) -> Measurement:
    """One variant at `concurrency`; after a stall, again on a restarted instance at half of it, down
    to 1. The result carries the concurrencies that stalled."""
    stalled_at: list[int] = []
    stalls: list[str] = []
    while True:
        result = Measurement(
            instances.spec.label, variant, concurrency, args.orders, stalled_at=stalled_at, stalls=stalls
        )
        batch = asyncio.run(
            measure_variant(
                instances.current(),
                instances.context.key,
                result,
                Bounds(args.stall_timeout, args.max_seconds),
            )
        )
        if not batch.stalled:
            return result
        done = sum(isinstance(o, Issued) for o in batch.outcomes)
        stalled_at.append(concurrency)
        stalls.append(
            f"no order finished for {args.stall_timeout:.0f} s at concurrency {concurrency} "
            f"({done}/{len(batch.outcomes)} done)"
        )
        print(f"  {result.target} {variant}: STALLED: {stalls[-1]}", file=sys.stderr)
        instances.discard()
        if concurrency == 1:
            return result
        concurrency //= 2


def measure_target(spec: Spec, args: argparse.Namespace, context: RunContext) -> list[Measurement]:
    """Every variant on one instance of the target; after a stall, the concurrency that worked is kept
    for the target's later variants."""
    results = []
    concurrency = args.concurrency
    instances = Instances(spec, context)
    try:
        for variant in args.variants:
            result = measure_with_backoff(instances, variant, concurrency, args)
            concurrency = result.concurrency
            results.append(result)
            print(f"  {_line(result)}", file=sys.stderr)
    finally:
        instances.close()
    return results


@dataclass(frozen=True)
class RunContext:
    """What every target of one run shares: the account key (and its thumbprint, which the responders
    serve), challtestsrv's DNS, the PostgreSQL admin URL and the working directory."""

    workdir: Path
    challtestsrv: ChallTestSrv
    key: ec.EllipticCurvePrivateKey
    admin_url: str

    @property
    def thumbprint(self) -> str:
        return jwk_of(self.key.public_key()).thumbprint


# --- report


def _command(*argv: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


def postgresql_version(admin_url: str) -> str:
    async def ask() -> str:
        connection = await asyncpg.connect(admin_url, timeout=10)
        try:
            return str(await connection.fetchval("SHOW server_version"))
        finally:
            await connection.close()

    try:
        return asyncio.run(ask())
    except (OSError, asyncpg.PostgresError) as error:
        return f"unavailable ({error})"


def versions(admin_url: str, specs: Sequence[Spec]) -> dict[str, str]:
    root = Path(__file__).resolve().parent.parent
    commit = _command("git", "-C", str(root), "describe", "--always", "--dirty")
    found = {
        "acme-server": f"{metadata.version('acme-server')} (git {commit})",
        "pebble": _command("dpkg-query", "-W", "-f", "${Version}", "pebble") + " (Debian package)",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }
    if any(spec.postgresql for spec in specs):
        found["postgresql"] = postgresql_version(admin_url)
    for package in ("httpx", "cryptography", "uvicorn", "sqlalchemy", "asyncpg"):
        found[package] = metadata.version(package)
    return found


def machine() -> dict[str, object]:
    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "cpu": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        ),
        "load_average_before": os.getloadavg(),
    }


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _line(result: Measurement) -> str:
    return (
        f"{result.target} {result.variant} C={result.concurrency}: {result.ok}/{result.started} ok "
        f"({result.orders} asked), "
        f"{result.errors} errors, {result.orders_per_second:.1f} orders/s, p50 {_fmt(result.p50_ms)} ms, "
        f"p99 {_fmt(result.p99_ms)} ms"
    )


def ratios(results: Sequence[Measurement]) -> dict[tuple[str, str], tuple[float | None, float | None]]:
    """(target, variant) -> (orders/s over Pebble's, Pebble's server CPU per order over ours: both >1
    when ours is better), against Pebble's measurement of the same variant."""
    reference = {r.variant: r for r in results if r.target == REFERENCE and r.measured}
    found: dict[tuple[str, str], tuple[float | None, float | None]] = {}
    for result in results:
        base = reference.get(result.variant)
        if base is None or not result.measured:
            found[result.target, result.variant] = (None, None)
            continue
        rate = result.orders_per_second / base.orders_per_second
        ours_cpu, base_cpu = result.server_cpu_ms_per_order, base.server_cpu_ms_per_order
        per_cpu = base_cpu / ours_cpu if ours_cpu and base_cpu else None
        found[result.target, result.variant] = (rate, per_cpu)
    return found


COLUMNS = (
    ("target", 28),
    ("variant", 7),
    ("C", 3),
    ("ok/started", 10),
    ("err", 4),
    ("orders/s", 9),
    ("p50 ms", 8),
    ("p99 ms", 8),
    ("srv CPU ms/order", 17),
    ("cli CPU ms/order", 17),
    ("x pebble orders/s", 18),
    ("x pebble CPU/order", 18),
)


def table(results: Sequence[Measurement]) -> str:
    relative = ratios(results)
    rows = [[name for name, _ in COLUMNS]]
    for r in results:
        rate, per_cpu = relative[r.target, r.variant]
        rows.append(
            [
                r.target,
                r.variant,
                str(r.concurrency),
                f"{r.ok}/{r.started}",
                str(r.errors),
                _fmt(r.orders_per_second),
                _fmt(r.p50_ms),
                _fmt(r.p99_ms),
                _fmt(r.server_cpu_ms_per_order, 2),
                _fmt(r.client_cpu_ms_per_order, 2),
                _fmt(rate, 2),
                _fmt(per_cpu, 2),
            ]
        )
    widths = [width for _, width in COLUMNS]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    )


def findings(results: Sequence[Measurement], requested: int, max_seconds: float) -> list[str]:
    notes = []
    for r in results:
        if r.stalled_at:
            outcome = f"measured at concurrency {r.concurrency}" if r.measured else "no concurrency worked"
            notes.append(f"STALL {r.target} {r.variant}: {'; '.join(r.stalls)}; {outcome}")
        elif r.concurrency != requested:
            notes.append(f"{r.target} {r.variant}: run at concurrency {r.concurrency} after a stall above")
        if r.measured and r.started < r.orders:
            notes.append(
                f"{r.target} {r.variant}: {r.started} of {r.orders} orders started within the "
                f"{max_seconds:.0f} s cap"
            )
        if r.variant == "reuse" and r.ok and r.reused != r.ok:
            notes.append(f"{r.target} reuse: only {r.reused}/{r.ok} orders were ready at once")
        if r.variant == "fresh" and r.reused:
            notes.append(f"{r.target} fresh: {r.reused} orders were ready at once (unexpected reuse)")
        notes.extend(f"{r.target} {r.variant} error: {sample[:300]}" for sample in r.error_samples)
    return notes


# --- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.acme_throughput", description="ACME issuance throughput, ours against Pebble"
    )
    parser.add_argument("--orders", type=int, default=300, help="orders per target and variant (300)")
    parser.add_argument("--concurrency", type=int, default=16, help="orders in flight at once (16)")
    parser.add_argument(
        "--targets",
        default=",".join(spec.name for spec in SPECS),
        help=f"comma-separated, from {', '.join(spec.name for spec in SPECS)} (all)",
    )
    parser.add_argument("--variants", default=",".join(VARIANTS), help="fresh, reuse (both)")
    parser.add_argument(
        "--database", default=DEFAULT_DATABASE, help=f"PostgreSQL admin URL ({DEFAULT_DATABASE})"
    )
    parser.add_argument("--stall-timeout", type=float, default=30.0, help="seconds without progress (30)")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=15.0,
        help="start no order after this many seconds of a timed batch (15): bounds the run on a slow target",
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    parser.add_argument("--workdir", type=Path, help="where logs and data go (a temporary directory)")
    args = parser.parse_args(argv)
    known = {spec.name: spec for spec in SPECS}
    names = [name.strip() for name in args.targets.split(",") if name.strip()]
    variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    if not names or any(name not in known for name in names):
        parser.error(f"--targets: choose from {', '.join(known)}")
    if not variants or any(v not in VARIANTS for v in variants):
        parser.error(f"--variants: choose from {', '.join(VARIANTS)}")
    if args.orders < 1 or args.concurrency < 1 or args.stall_timeout <= 0 or args.max_seconds <= 0:
        parser.error(
            "--orders and --concurrency must be at least 1, --stall-timeout and --max-seconds positive"
        )
    args.specs = [known[name] for name in names]
    args.variants = variants
    return args


def run(args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    """Measure every selected target; the report as a JSON-ready dict."""
    key = ec.generate_private_key(ec.SECP256R1())
    info: dict[str, object] = {"machine": machine(), "versions": versions(args.database, args.specs)}
    (workdir / "challtestsrv").mkdir(parents=True, exist_ok=True)
    challtestsrv = ChallTestSrv(workdir / "challtestsrv")
    results: list[Measurement] = []
    try:
        context = RunContext(workdir, challtestsrv, key, args.database)
        for spec in args.specs:
            print(f"measuring {spec.label} ...", file=sys.stderr)
            results.extend(measure_target(spec, args, context))
    finally:
        challtestsrv.stop()
    machine_info = info["machine"]
    assert isinstance(machine_info, dict)
    machine_info["load_average_after"] = os.getloadavg()
    info["settings"] = {
        "orders": args.orders,
        "concurrency": args.concurrency,
        "stall_timeout_s": args.stall_timeout,
        "max_seconds": args.max_seconds,
        "variants": args.variants,
    }
    info["results"] = [asdict(r) for r in results]
    info["ratios_to_pebble"] = {f"{t} {v}": ratio for (t, v), ratio in ratios(results).items()}
    info["findings"] = findings(results, args.concurrency, args.max_seconds)
    info["table"] = table(results)
    return info


def render(info: dict[str, object]) -> str:
    machine_info, version_info = info["machine"], info["versions"]
    assert isinstance(machine_info, dict) and isinstance(version_info, dict)
    lines = [
        f"machine: {machine_info['cores']} cores ({machine_info['usable_cores']} usable), "
        f"{machine_info['cpu']}; load average before {machine_info['load_average_before']}, "
        f"after {machine_info['load_average_after']}",
        "versions: " + ", ".join(f"{name} {version}" for name, version in version_info.items()),
        f"settings: {info['settings']}",
        "",
        str(info["table"]),
        "",
        "x pebble orders/s: our orders/s over Pebble's; x pebble CPU/order: Pebble's server CPU per order"
        " over ours (both > 1 when ours is better).",
    ]
    notes = info["findings"]
    assert isinstance(notes, list)
    lines += ["findings:", *(f"  {note}" for note in notes)] if notes else ["findings: none"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with contextlib.ExitStack() as stack:
        workdir = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="acme-bench-")))
        try:
            info = run(args, workdir)
        except StartupError as error:
            print(f"error: a server did not start: {error}", file=sys.stderr)
            return 1
    print(render(info))
    if args.json:
        args.json.write_text(json.dumps({k: v for k, v in info.items() if k != "table"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
