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
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from bench.client import CLIENTS, KINDS, Account, Http, Issued, issue
from bench.procstat import Pinning, delta, group_pids, process_cpu, restored_affinity, rss_bytes
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
    Spec("ours-sqlite-2w", "ours[sqlite, 2 workers]", ours=True, workers=2),
    Spec("ours-pg", "ours[postgresql]", ours=True, postgresql=True),
    Spec("ours-pg-2w", "ours[postgresql, 2 workers]", ours=True, postgresql=True, workers=2),
)


# --- CPU accounting (Linux /proc): the server's process group, its PostgreSQL backends, the helpers


async def _admin(database_url: str) -> asyncpg.Connection:
    """A connection to the `postgres` database of `database_url`'s server (never to the measured one,
    whose counters it would change)."""
    return await asyncpg.connect(database_url.replace("+asyncpg", ""), database="postgres", timeout=10)


def _database_name(database_url: str) -> str:
    return urlsplit(database_url).path.lstrip("/")


async def backend_pids(database_url: str | None) -> list[int]:
    """The PostgreSQL server processes serving `database_url`'s database (none for SQLite)."""
    if database_url is None or not is_postgresql(database_url):
        return []
    connection = await _admin(database_url)
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1", _database_name(database_url)
        )
    finally:
        await connection.close()
    return [int(row["pid"]) for row in rows]


# PostgreSQL flushes a backend's pending statistics at most once a second, and within a second of it
# going idle (PGSTAT_MIN_INTERVAL): the counters are read this long after a batch has ended.
STATS_FLUSH_WAIT = 1.5


async def database_counters(database_url: str | None) -> dict[str, float] | None:
    """Transactions (committed + rolled back), rows written and, when pg_stat_statements is installed,
    statements executed in `database_url`'s database so far; None for SQLite."""
    if database_url is None or not is_postgresql(database_url):
        return None
    name = _database_name(database_url)
    connection = await _admin(database_url)
    try:
        row = await connection.fetchrow(
            "SELECT xact_commit + xact_rollback AS transactions,"
            " tup_inserted + tup_updated + tup_deleted AS rows_written"
            " FROM pg_stat_database WHERE datname = $1",
            name,
        )
        found = {key: float(value) for key, value in dict(row or {}).items()}
        try:
            statements = await connection.fetchval(
                "SELECT sum(calls) FROM pg_stat_statements"
                " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1)",
                name,
            )
        except asyncpg.PostgresError:  # not installed (not required): no statement count
            statements = None
        if statements is not None:
            found["statements"] = float(statements)
    finally:
        await connection.close()
    return found


@dataclass(frozen=True)
class Usage:
    """What one batch cost: CPU seconds of the server's processes, of its PostgreSQL backends and of
    the helpers (challtestsrv, responder), and the database's counters' deltas (None on SQLite)."""

    server: float
    database: float
    helpers: float
    counters: dict[str, float] | None


@dataclass
class CpuMeter:
    """CPU the server, its database backends and the helpers used between start() and stop()."""

    group: int
    helper_groups: Sequence[int]
    database_url: str | None
    pinning: Pinning | None = None
    before: tuple[dict[int, float], dict[int, float], dict[int, float]] = ({}, {}, {})
    counters_before: dict[str, float] | None = None

    async def _sample(self) -> tuple[dict[int, float], dict[int, float], dict[int, float]]:
        helpers = [pid for group in self.helper_groups for pid in group_pids(group)]
        return (
            process_cpu(group_pids(self.group)),
            process_cpu(await backend_pids(self.database_url)),
            process_cpu(helpers),
        )

    async def start(self) -> None:
        if self.pinning is not None:
            # The backends the server's pool holds after the warm-up, on the server's CPU with it (a
            # backend PostgreSQL forks later keeps the postmaster's affinity).
            self.pinning.servers(await backend_pids(self.database_url))
        if is_postgresql(self.database_url):
            await asyncio.sleep(STATS_FLUSH_WAIT)  # the warm-up's counters are not the batch's
        self.counters_before = await database_counters(self.database_url)
        self.before = await self._sample()

    async def stop(self) -> Usage:
        after = await self._sample()
        counters = None
        if self.counters_before is not None:
            await asyncio.sleep(STATS_FLUSH_WAIT)
            now = await database_counters(self.database_url) or {}
            counters = {key: now[key] - self.counters_before.get(key, 0.0) for key in now}
        server, database, helpers = (delta(b, a) for b, a in zip(self.before, after, strict=True))
        return Usage(server, database, helpers, counters)


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
    pinned: bool = False
    started: int = 0  # begun before the time cap
    ok: int = 0
    errors: int = 0
    reused: int = 0  # orders that were ready at once
    seconds: float = 0.0
    orders_per_second: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    server_cpu_ms_per_order: float | None = None  # the server's processes (every uvicorn worker)
    db_cpu_ms_per_order: float | None = None  # its PostgreSQL backends (0 on SQLite and for Pebble)
    total_cpu_ms_per_order: float | None = None  # the two summed
    helper_cpu_ms_per_order: float | None = None  # pebble-challtestsrv and the http-01 responder
    client_cpu_ms_per_order: float | None = None
    client_cpu_percent: float | None = None  # of the client's one core over the batch's wall time
    requests_per_order: float | None = None
    requests_by_kind_per_order: dict[str, float] = field(default_factory=dict)
    polls_per_authorization: float | None = None  # order polls until ready, per authorization answered
    polls_per_order: float | None = None  # order polls until ready and until valid
    transactions_per_order: float | None = None  # PostgreSQL: xact_commit + xact_rollback
    statements_per_order: float | None = None  # PostgreSQL with pg_stat_statements only
    rows_written_per_order: float | None = None  # PostgreSQL: tuples inserted + updated + deleted
    database_backed: bool = False  # PostgreSQL: backends measured, counters read
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


class LazyJobs(Sequence[tuple[str, bytes]]):
    """As many fresh-name jobs as a soak can start, each CSR made when the job is taken (a soak's
    orders are too many to make first), from a small pool of keys."""

    def __init__(self, count: int, keys: int = 64) -> None:
        self.size, self.tag = count, secrets.token_hex(3)
        self.keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(keys)]

    def __len__(self) -> int:
        return self.size

    def name(self, index: int) -> str:
        return f"s{index}-{self.tag}.bench.example.com"

    def __getitem__(self, index: int) -> tuple[str, bytes]:  # type: ignore[override]
        if not 0 <= index < self.size:
            raise IndexError(index)
        name = self.name(index)
        return name, csr_der(name, key=self.keys[index % len(self.keys)])


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


def summarize(result: Measurement, names: Sequence[str], batch: Batch) -> None:
    latencies = []
    for name, outcome in zip(names, batch.outcomes, strict=True):
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


def account_for(result: Measurement, usage: Usage, client_cpu: float, requests: Counter[str]) -> None:
    """Per-order costs of a summarized batch: CPU, client share, requests by kind, database work."""
    if not result.ok:
        return
    per_order = 1000 / result.ok
    result.server_cpu_ms_per_order = usage.server * per_order
    result.db_cpu_ms_per_order = usage.database * per_order
    result.total_cpu_ms_per_order = (usage.server + usage.database) * per_order
    result.helper_cpu_ms_per_order = usage.helpers * per_order
    result.client_cpu_ms_per_order = client_cpu * per_order
    result.client_cpu_percent = 100 * client_cpu / result.seconds if result.seconds else None
    result.requests_per_order = sum(requests.values()) / result.started
    result.requests_by_kind_per_order = {
        kind: requests[kind] / result.started for kind in (*KINDS, "other") if requests[kind]
    }
    polls = requests["poll_ready"] + requests["poll_valid"]
    result.polls_per_order = polls / result.started
    if requests["challenge"]:
        result.polls_per_authorization = requests["poll_ready"] / requests["challenge"]
    if usage.counters is not None:
        result.transactions_per_order = usage.counters.get("transactions", 0.0) / result.ok
        result.rows_written_per_order = usage.counters.get("rows_written", 0.0) / result.ok
        if "statements" in usage.counters:
            result.statements_per_order = usage.counters["statements"] / result.ok


@dataclass(frozen=True)
class Bounds:
    """How long a batch may go without an order finishing, and how long the timed batch may start
    orders for."""

    stall_timeout: float
    max_seconds: float


# A fresh-variant warm-up needs only enough orders to open connections and fill caches; the reuse
# variant's warm-up gives each of its C names an authorization, so it has C orders.
WARM_UP_FRESH = 32


def _http(context: RunContext, target: Target, concurrency: int, stall_timeout: float) -> Http:
    """The client's connections to `target`: one per order in flight and two spare."""
    kind = CLIENTS[context.client]
    return kind(target.ssl_context(), connections=concurrency + 2, timeout=max(60.0, 2 * stall_timeout))


def _meter(instance: Instance, context: RunContext) -> CpuMeter:
    helpers = [context.challtestsrv.process.popen.pid, *instance.helper_groups]
    return CpuMeter(instance.target.process.popen.pid, helpers, instance.database_url, context.pinning)


async def measure_variant(
    instance: Instance, context: RunContext, result: Measurement, bounds: Bounds
) -> Batch:
    """Warm-up (connections, caches, and the reuse variant's authorizations), then the timed N orders;
    fills `result` and returns the timed batch (or the warm-up's, when that stalled)."""
    target, concurrency, stall_timeout = instance.target, result.concurrency, bounds.stall_timeout
    if result.variant == "reuse":
        warm_names = _names("w", concurrency)
        timed_names = [warm_names[i % concurrency] for i in range(result.orders)]
    else:
        warm_names = _names("w", min(concurrency, WARM_UP_FRESH))
        timed_names = _names("f", result.orders)
    warm_jobs, timed_jobs = _jobs(warm_names), _jobs(timed_names)
    async with _http(context, target, concurrency, stall_timeout) as http:
        account = await Account.register(http, target.directory_url, context.key)
        account.honour_retry_after = context.honour_retry_after
        warm = await run_orders(account, warm_jobs, min(concurrency, len(warm_jobs)), stall_timeout)
        if warm.stalled:
            summarize(result, warm_names, warm)
            return warm
        meter = _meter(instance, context)
        await meter.start()
        counts_before, client_before = Counter(account.counts), time.process_time()
        batch = await run_orders(account, timed_jobs, concurrency, stall_timeout, bounds.max_seconds)
        client_cpu = time.process_time() - client_before
        usage = await meter.stop()
        summarize(result, timed_names, batch)
        account_for(result, usage, client_cpu, account.counts - counts_before)
        return batch


@dataclass
class Soak:
    """RSS of a target's processes, sampled every minute of a long run at one concurrency."""

    target: str
    concurrency: int
    minutes: float
    samples: list[dict[str, float]] = field(default_factory=list)  # minute, orders, server/db RSS MiB
    result: Measurement | None = None


async def soak_target(instance: Instance, context: RunContext, soak: Soak, bounds: Bounds) -> None:
    """Orders at `soak.concurrency` for `soak.minutes`, the server's RSS (sum over its process group,
    and its PostgreSQL backends apart) at the start and after every minute."""
    target, concurrency = instance.target, soak.concurrency
    seconds = soak.minutes * 60
    jobs = LazyJobs(1_000_000)
    async with _http(context, target, concurrency, bounds.stall_timeout) as http:
        account = await Account.register(http, target.directory_url, context.key)
        account.honour_retry_after = context.honour_retry_after
        started = time.monotonic()

        async def sample() -> None:
            server = rss_bytes(group_pids(target.process.popen.pid))
            database = rss_bytes(await backend_pids(instance.database_url))
            soak.samples.append(
                {
                    "minute": round((time.monotonic() - started) / 60, 2),
                    "orders": float(account.counts["cert"]),
                    "server_rss_mib": server / 2**20,
                    "db_rss_mib": database / 2**20,
                }
            )
            print(f"  {soak.target} soak: {soak.samples[-1]}", file=sys.stderr)

        async def sampler() -> None:
            while True:
                await sample()
                await asyncio.sleep(60)

        task = asyncio.create_task(sampler())
        try:
            batch = await run_orders(account, jobs, concurrency, bounds.stall_timeout, seconds)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await sample()
    result = Measurement(soak.target, "fresh", concurrency, len(jobs))
    ran = max((i for i, outcome in enumerate(batch.outcomes) if outcome is not None), default=-1) + 1
    summarize(result, [jobs.name(i) for i in range(ran)], _prefix(batch, ran))
    result.orders = result.started
    soak.result = result


def _prefix(batch: Batch, count: int) -> Batch:
    """A batch cut to its first `count` outcomes (a soak's job list is far longer than what ran)."""
    return Batch(batch.outcomes[:count], batch.seconds, batch.stalled)


# --- targets


@contextlib.contextmanager
def responder(target: Target, thumbprint: str, workdir: Path) -> Iterator[Process]:
    """bench/responder.py on the target's http-01 port."""
    argv = [sys.executable, "-m", "bench.responder", "--port", str(target.http01_port)]
    process = Process("responder", [*argv, f"--thumbprint={thumbprint}"], log=workdir / "responder.log")
    try:
        wait_until(
            lambda: tcp_open(target.http01_port), what="responder", process=process, timeout=STARTUP_TIMEOUT
        )
        yield process
    finally:
        process.stop()


@dataclass(frozen=True)
class Instance:
    """A running target, the database it uses (None: SQLite, or Pebble's memory) and the process
    groups of its helpers (the responder)."""

    target: Target
    database_url: str | None
    helper_groups: tuple[int, ...] = ()


# One account orders thousands of certificates per run: the per-account limit is raised out of the
# way, not turned off, so every order still pays its counter statements (docs/security.md "Rate limits").
BENCH_RATE_LIMITS = {
    "ACME_SERVER_RATE_LIMITS": json.dumps(
        {
            "new_orders_per_account": 10_000_000,
            "new_accounts_per_ip": 10_000_000,
            "pending_authorizations_per_account": 10_000_000,
        }
    )
}


@contextlib.contextmanager
def running(spec: Spec, workdir: Path, context: RunContext) -> Iterator[Instance]:
    """A fresh instance of `spec` (a new database) with its responder, all on the server CPU when
    pinned."""
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
                workdir,
                context.challtestsrv,
                database_url=database_url,
                workers=spec.workers,
                environment=BENCH_RATE_LIMITS,
            )
        stack.callback(target.stop)
        helper = stack.enter_context(responder(target, context.thumbprint, workdir))
        instance = Instance(target, database_url, (helper.popen.pid,))
        pin_servers(instance, context)
        yield instance


def pin_servers(instance: Instance, context: RunContext) -> None:
    """The target's process group (every uvicorn worker), its responder and challtestsrv on the
    server CPU. They were started from this process while it sat there, so this only makes sure."""
    if context.pinning is None:
        return
    groups = [instance.target.process.popen.pid, context.challtestsrv.process.popen.pid]
    context.pinning.servers(pid for group in [*groups, *instance.helper_groups] for pid in group_pids(group))


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


def as_client(context: RunContext) -> contextlib.AbstractContextManager[None]:
    return context.pinning.as_client() if context.pinning is not None else contextlib.nullcontext()


def measure_with_backoff(
    instances: Instances,
    variant: str,
    concurrency: int,
    args: argparse.Namespace,
    *,
    orders: int | None = None,
    backoff: bool = True,
) -> Measurement:
    """One variant at `concurrency`; after a stall, again on a restarted instance at half of it, down
    to 1 (with `backoff`; without, the stalled measurement is the result). The result carries the
    concurrencies that stalled."""
    stalled_at: list[int] = []
    stalls: list[str] = []
    context = instances.context
    while True:
        result = Measurement(
            instances.spec.label,
            variant,
            concurrency,
            orders or args.orders,
            pinned=context.pinning is not None,
            database_backed=instances.spec.postgresql,
            stalled_at=stalled_at,
            stalls=stalls,
        )
        instance = instances.current()
        with as_client(context):
            batch = asyncio.run(
                measure_variant(instance, context, result, Bounds(args.stall_timeout, args.max_seconds))
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
        if concurrency == 1 or not backoff:
            return result
        concurrency //= 2


def measure_target(spec: Spec, args: argparse.Namespace, context: RunContext) -> list[Measurement]:
    """Every variant on one instance of the target; after a stall, the concurrency that worked is kept
    for the target's later variants. With --matrix: the fresh variant at each matrix concurrency
    instead, no backoff (a stalled cell is reported as such)."""
    results = []
    instances = Instances(spec, context)
    try:
        if args.matrix:
            for concurrency in args.matrix_concurrency:
                orders = max(args.orders, 4 * concurrency)
                result = measure_with_backoff(
                    instances, "fresh", concurrency, args, orders=orders, backoff=False
                )
                results.append(result)
                print(f"  {_line(result)}", file=sys.stderr)
            return results
        concurrency = args.concurrency
        for variant in args.variants:
            result = measure_with_backoff(instances, variant, concurrency, args)
            concurrency = result.concurrency
            results.append(result)
            print(f"  {_line(result)}", file=sys.stderr)
    finally:
        instances.close()
    return results


def soak_spec(spec: Spec, args: argparse.Namespace, context: RunContext) -> Soak:
    soak = Soak(spec.label, args.concurrency, args.soak)
    instances = Instances(spec, context)
    try:
        instance = instances.current()
        with as_client(context):
            asyncio.run(soak_target(instance, context, soak, Bounds(args.stall_timeout, args.max_seconds)))
    finally:
        instances.close()
    return soak


@dataclass(frozen=True)
class RunContext:
    """What every target of one run shares: the account key (and its thumbprint, which the responders
    serve), challtestsrv's DNS, the PostgreSQL admin URL, the working directory, where processes are
    pinned and how the client polls."""

    workdir: Path
    challtestsrv: ChallTestSrv
    key: ec.EllipticCurvePrivateKey
    admin_url: str
    pinning: Pinning | None = None
    honour_retry_after: bool = True
    client: str = "aiohttp"  # a key of bench.client.CLIENTS

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
    for package in ("aiohttp", "httpx", "cryptography", "uvicorn", "sqlalchemy", "asyncpg"):
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
        f"p99 {_fmt(result.p99_ms)} ms, server CPU {_fmt(result.total_cpu_ms_per_order, 2)} ms/order, "
        f"client CPU {_fmt(result.client_cpu_percent, 0)} %"
    )


Key = tuple[str, str, int]


def ratios(results: Sequence[Measurement]) -> dict[Key, tuple[float | None, float | None]]:
    """(target, variant, C) -> (orders/s over Pebble's, Pebble's server CPU per order over ours: both
    >1 when ours is better), against Pebble's measurement of the same variant and concurrency."""
    reference = {(r.variant, r.concurrency): r for r in results if r.target == REFERENCE and r.measured}
    found: dict[Key, tuple[float | None, float | None]] = {}
    for result in results:
        base = reference.get((result.variant, result.concurrency))
        key = (result.target, result.variant, result.concurrency)
        if base is None or not result.measured:
            found[key] = (None, None)
            continue
        rate = result.orders_per_second / base.orders_per_second
        ours_cpu, base_cpu = result.total_cpu_ms_per_order, base.total_cpu_ms_per_order
        per_cpu = base_cpu / ours_cpu if ours_cpu and base_cpu else None
        found[key] = (rate, per_cpu)
    return found


def _grid(columns: Sequence[tuple[str, int]], rows: Sequence[Sequence[str]], left: int) -> str:
    """A plain-text table: the first `left` columns left-aligned, the others right-aligned."""
    widths = [max(width, len(name)) for name, width in columns]
    lines = [[name for name, _ in columns], *rows]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if i < left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in lines
    )


COLUMNS = (
    ("target", 28),
    ("variant", 7),
    ("C", 3),
    ("ok/started", 10),
    ("err", 4),
    ("orders/s", 9),
    ("p50 ms", 8),
    ("p99 ms", 8),
    ("srv CPU ms/order", 16),
    ("db CPU ms/order", 15),
    ("cli CPU %", 9),
    ("req/order", 9),
    ("polls/order", 11),
    ("xact/order", 10),
    ("x pebble orders/s", 17),
    ("x pebble CPU/order", 18),
)


def table(results: Sequence[Measurement]) -> str:
    relative = ratios(results)
    rows = []
    for r in results:
        rate, per_cpu = relative[r.target, r.variant, r.concurrency]
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
                _fmt(r.db_cpu_ms_per_order, 2),
                _fmt(r.client_cpu_percent, 0),
                _fmt(r.requests_per_order, 1),
                _fmt(r.polls_per_order, 2),
                _fmt(r.transactions_per_order, 1),
                _fmt(rate, 2),
                _fmt(per_cpu, 2),
            ]
        )
    return _grid(COLUMNS, rows, left=2)


MATRIX_COLUMNS = (
    ("server", 28),
    ("c", 3),
    ("orders/s", 8),
    ("ratio to Pebble", 15),
    ("p99 ms", 8),
    ("server CPU/order ms", 19),
    ("of which db ms", 14),
    ("client CPU %", 12),
    ("polls/authz", 11),
    ("xact/order", 10),
)


def matrix_table(results: Sequence[Measurement]) -> str:
    """The issue's table: one row per target and concurrency (the fresh variant)."""
    relative = ratios(results)
    rows = []
    for r in results:
        rate, _ = relative[r.target, r.variant, r.concurrency]
        stalled = " (stalled)" if not r.measured and r.stalled_at else ""
        rows.append(
            [
                r.target + stalled,
                str(r.concurrency),
                _fmt(r.orders_per_second),
                _fmt(rate, 2),
                _fmt(r.p99_ms, 0),
                _fmt(r.total_cpu_ms_per_order, 2),
                _fmt(r.db_cpu_ms_per_order, 2) if r.database_backed else "-",
                _fmt(r.client_cpu_percent, 0),
                _fmt(r.polls_per_authorization, 2),
                _fmt(r.transactions_per_order, 1),
            ]
        )
    return _grid(MATRIX_COLUMNS, rows, left=1)


# A client above this share of its core may be what limits the rate (bench/README.md).
CLIENT_SATURATED_PERCENT = 70.0


def findings(results: Sequence[Measurement], args: argparse.Namespace) -> list[str]:
    notes = []
    for r in results:
        if r.stalled_at:
            outcome = f"measured at concurrency {r.concurrency}" if r.measured else "no concurrency worked"
            notes.append(f"STALL {r.target} {r.variant}: {'; '.join(r.stalls)}; {outcome}")
        elif not args.matrix and r.concurrency != args.concurrency:
            notes.append(f"{r.target} {r.variant}: run at concurrency {r.concurrency} after a stall above")
        if r.measured and r.started < r.orders:
            notes.append(
                f"{r.target} {r.variant} C={r.concurrency}: {r.started} of {r.orders} orders started "
                f"within the {args.max_seconds:.0f} s cap"
            )
        if r.client_cpu_percent is not None and r.client_cpu_percent > CLIENT_SATURATED_PERCENT:
            notes.append(
                f"{r.target} {r.variant} C={r.concurrency}: the client used {r.client_cpu_percent:.0f} % "
                "of its core: the rate may be the client's limit, not the server's"
            )
        if r.variant == "reuse" and r.ok and r.reused != r.ok:
            notes.append(f"{r.target} reuse: only {r.reused}/{r.ok} orders were ready at once")
        if r.variant == "fresh" and r.reused:
            notes.append(f"{r.target} fresh: {r.reused} orders were ready at once (unexpected reuse)")
        notes.extend(f"{r.target} {r.variant} error: {sample[:300]}" for sample in r.error_samples)
    return notes


# --- main

QUICK = {"targets": "ours-sqlite,pebble", "orders": 4, "concurrency": 2, "variants": "fresh"}
MATRIX_CONCURRENCY = (1, 16, 64, 256)
SOAK_CONCURRENCY = 64


def _list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.acme_throughput", description="ACME issuance throughput, ours against Pebble"
    )
    parser.add_argument(
        "--orders", type=int, help="orders per target and variant (300; matrix: at least 4 C)"
    )
    parser.add_argument("--concurrency", type=int, help="orders in flight at once (16; soak: 64)")
    parser.add_argument(
        "--targets",
        help=f"comma-separated, from {', '.join(spec.name for spec in SPECS)} (all but ours-sqlite-2w; "
        "soak: ours-sqlite)",
    )
    parser.add_argument("--variants", help="fresh, reuse (both)")
    parser.add_argument(
        "--database", default=DEFAULT_DATABASE, help=f"PostgreSQL admin URL ({DEFAULT_DATABASE})"
    )
    parser.add_argument("--stall-timeout", type=float, default=30.0, help="seconds without progress (30)")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=15.0,
        help="start no order after this many seconds of a timed batch (15): bounds the run on a slow "
        "target, and each matrix cell",
    )
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="servers (and their database backends, challtestsrv, the responder) on the first CPU, the "
        "client on the second (default: on with 2 or more usable CPUs)",
    )
    parser.add_argument(
        "--honour-retry-after",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="wait between polls as Retry-After says (default); --no-honour-retry-after: the fixed schedule",
    )
    parser.add_argument(
        "--client", choices=sorted(CLIENTS), default="aiohttp", help="the load generator's HTTP library"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--matrix",
        action="store_true",
        help="the fresh variant at C = 1, 16, 64, 256 (--matrix-concurrency) for every target "
        "(default: all five)",
    )
    mode.add_argument(
        "--soak", type=float, metavar="MINUTES", help="orders at C=64 for MINUTES, RSS each minute"
    )
    mode.add_argument("--quick", action="store_true", help="harness check: 4 orders, ours-sqlite and Pebble")
    parser.add_argument(
        "--matrix-concurrency",
        default=",".join(map(str, MATRIX_CONCURRENCY)),
        help="the matrix's concurrencies (1,16,64,256)",
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    parser.add_argument("--workdir", type=Path, help="where logs and data go (a temporary directory)")
    return parser


def _mode_defaults(args: argparse.Namespace) -> list[str]:
    """Fill in what the mode decides (--quick's small run, the soak's C=64); the default targets."""
    if args.quick:
        for name, value in QUICK.items():
            if getattr(args, name) is None:
                setattr(args, name, value)
    args.orders = 300 if args.orders is None else args.orders
    if args.concurrency is None:
        args.concurrency = SOAK_CONCURRENCY if args.soak is not None else 16
    if args.soak is not None:
        return ["ours-sqlite"]
    return [s.name for s in SPECS if args.matrix or s.name != "ours-sqlite-2w"]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _parser()
    args = parser.parse_args(argv)
    known = {spec.name: spec for spec in SPECS}
    default_targets = _mode_defaults(args)  # first: --quick sets --targets
    names = _list(args.targets) if args.targets is not None else default_targets
    variants = _list(args.variants) if args.variants is not None else list(VARIANTS)
    try:
        args.matrix_concurrency = [int(c) for c in _list(args.matrix_concurrency)]
    except ValueError:
        parser.error("--matrix-concurrency: comma-separated integers")
    if not names or any(name not in known for name in names):
        parser.error(f"--targets: choose from {', '.join(known)}")
    if not variants or any(v not in VARIANTS for v in variants):
        parser.error(f"--variants: choose from {', '.join(VARIANTS)}")
    if args.orders < 1 or args.concurrency < 1 or args.stall_timeout <= 0 or args.max_seconds <= 0:
        parser.error(
            "--orders and --concurrency must be at least 1, --stall-timeout and --max-seconds positive"
        )
    if (
        not args.matrix_concurrency
        or min(args.matrix_concurrency) < 1
        or (args.soak is not None and args.soak <= 0)
    ):
        parser.error("--matrix-concurrency must be at least 1, --soak positive")
    if args.pin is None:
        args.pin = Pinning.default() is not None
    elif args.pin and Pinning.default() is None:
        parser.error("--pin needs at least 2 usable CPUs")
    args.specs = [known[name] for name in names]
    args.variants = ["fresh"] if args.matrix else variants
    return args


def run(args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    """Measure every selected target; the report as a JSON-ready dict."""
    with restored_affinity():
        return _run(args, workdir)


def _run(args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    key = ec.generate_private_key(ec.SECP256R1())
    info: dict[str, object] = {"machine": machine(), "versions": versions(args.database, args.specs)}
    pinning = Pinning.default() if args.pin else None
    if pinning is not None:
        # Every process started from here on (challtestsrv, servers, responders) inherits the server
        # CPU; the client moves to its own CPU only while it measures (RunContext / as_client).
        pinning.servers([os.getpid()])
    (workdir / "challtestsrv").mkdir(parents=True, exist_ok=True)
    challtestsrv = ChallTestSrv(workdir / "challtestsrv")
    results: list[Measurement] = []
    soaks: list[Soak] = []
    try:
        context = RunContext(
            workdir, challtestsrv, key, args.database, pinning, args.honour_retry_after, args.client
        )
        for spec in args.specs:
            print(f"measuring {spec.label} ...", file=sys.stderr)
            if args.soak is not None:
                soaks.append(soak_spec(spec, args, context))
            else:
                results.extend(measure_target(spec, args, context))
    finally:
        challtestsrv.stop()
    machine_info = info["machine"]
    assert isinstance(machine_info, dict)
    machine_info["load_average_after"] = os.getloadavg()
    info["settings"] = {
        "mode": "soak"
        if args.soak is not None
        else "matrix"
        if args.matrix
        else "quick"
        if args.quick
        else "run",
        "orders": args.orders,
        "concurrency": args.matrix_concurrency if args.matrix else args.concurrency,
        "stall_timeout_s": args.stall_timeout,
        "max_seconds": args.max_seconds,
        "variants": args.variants,
        "pinned": None
        if pinning is None
        else {"servers": sorted(pinning.server), "client": sorted(pinning.client)},
        "honour_retry_after": args.honour_retry_after,
        "client": args.client,
    }
    if soaks:
        results = [soak.result for soak in soaks if soak.result is not None]
        info["soak"] = [asdict(soak) for soak in soaks]
    info["results"] = [asdict(r) for r in results]
    info["ratios_to_pebble"] = {f"{t} {v} c={c}": ratio for (t, v, c), ratio in ratios(results).items()}
    info["findings"] = findings(results, args)
    info["table"] = matrix_table(results) if args.matrix else table(results)
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
        "x pebble / ratio to Pebble: our orders/s over Pebble's at the same C; x pebble CPU/order: Pebble's"
        " server CPU per order over ours (both > 1 when ours is better). Server CPU includes the"
        " PostgreSQL backends.",
    ]
    soaks = info.get("soak", [])
    assert isinstance(soaks, list)
    for soak in soaks:
        assert isinstance(soak, dict)
        lines.append(f"soak {soak['target']} C={soak['concurrency']} for {soak['minutes']} min:")
        lines += [
            f"  minute {s['minute']:>6}: {s['orders']:>8.0f} orders,"
            f" server RSS {s['server_rss_mib']:.1f} MiB, db backends RSS {s['db_rss_mib']:.1f} MiB"
            for s in soak["samples"]
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
