"""Fault injection under load: SIGKILL `acme-server serve` at random moments (also with a finalize in
flight, and just after a revocation) while the benchmark's clients issue and revoke, restart it on the
same database each time, and then check in the database and the served CRL that no crash broke an
invariant. With --replicas N, each kill takes one of N replicas the clients all use. See
bench/README.md.

    python -m bench.fault_injection --engine sqlite|postgres [--kills 20] [--concurrency 8] [--seed N]
        [--replicas N]

The clients (bench/client.py's Account over aiohttp) retry across every outage: each order is resumed
from its URL, whatever state the kill left it in. What they saw is recorded (orders seen valid with
their certificate URL, revocations acknowledged) and checked against the database:

- every order a client saw valid is valid with exactly one certificate, the one the client downloaded;
- no certificate issued over ACME lacks its valid order; no serial repeats;
- no order stays `processing` (recovery fails it once the processing lease ran out);
- no challenge stays `processing`: validations queued or claimed at a kill resume after the restart;
- after each restart, the CRL served contains every revocation in the database at the kill (and at
  the end every revocation, the acknowledged ones included).

Exit status 1 when an invariant fails; the report says which, with samples."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from acme_server.services.acme.challenges import STALE_CLAIM
from acme_server.storage.engine import normalize_url
from bench.acme_throughput import DEFAULT_DATABASE, responder
from bench.client import Account, Http, OrderFailed, Reply, describe
from ca_core.jose import b64encode, jwk_of
from conformance.servers import ChallTestSrv, OurTarget, StartupError, session_database, start_ours
from tests.acme.client import csr_der

ENGINES = ("sqlite", "postgres")
# The restarted server fails an order left `processing` by a kill after this many seconds (its
# default is 60 s; shorter here so the run does not wait for it, longer than any finalize under load).
PROCESSING_LEASE = 8.0
REQUEST_TIMEOUT = 20.0  # one HTTP request; a killed server refuses connections at once
RETRY_DELAY = 0.25  # after a failed request (the server is down or restarting)
POLL_DELAY = 0.2
# An order gives up after this long: a validation claimed by a killed replica while another kept
# running is taken over after STALE_CLAIM (services/acme/challenges.py), so an order may wait that long.
ORDER_DEADLINE = STALE_CLAIM.total_seconds() + 90
SETTLE_TIMEOUT = STALE_CLAIM.total_seconds() + 60  # for the last processing challenge or order
CRL_TIMEOUT = 15.0  # for the restarted server to publish a CRL with every revocation
MOMENT_WAIT = 10.0  # how long a kill waits for its moment (a finalize, a revocation in flight)
ERR = "urn:ietf:params:acme:error:"

PROCESSING_ORDERS = "SELECT count(*) FROM acme_orders WHERE status = 'processing'"
REVOCATIONS = "SELECT count(*) FROM revocations"
PROCESSING_CHALLENGES = "SELECT count(*) FROM acme_challenges WHERE status = 'processing'"
UNPUBLISHED = (
    "SELECT count(*) FROM revocations r WHERE NOT EXISTS"
    " (SELECT 1 FROM crls c WHERE c.ca_id = r.ca_id AND c.this_update > r.revoked_at)"
)


class Transient(Exception):
    """A response that says "try again" to a client riding out an outage (5xx, an unreadable body)."""


@dataclass
class Observed:
    """What the clients saw: orders seen valid (order URL -> certificate URL, serial), serials whose
    revocation was acknowledged (200, or alreadyRevoked on a retry), and counts."""

    valid: dict[str, tuple[str, str]] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    counts: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # orders that ended invalid, by problem type


@dataclass
class Kill:
    number: int
    moment: str  # "random" or "finalize"
    at_seconds: float  # since the load started
    processing_orders: int  # in the database right after the kill
    revocations: int  # in the database right after the kill
    unpublished: int  # of those, made after their CA's newest CRL (the kill beat the CRL)
    validations: int  # challenges processing (queued or claimed by the killed worker)
    restart_seconds: float = 0.0
    crl_seconds: float | None = None  # until the served CRL had every revocation; None: never


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    samples: list[str] = field(default_factory=list)


@dataclass
class Report:
    engine: str
    seed: int = 0
    kills: list[Kill] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    clients: dict[str, int] = field(default_factory=dict)
    database: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    drain_seconds: float = 0.0  # after the load, until every client had finished its order
    settle_seconds: float = 0.0  # then until nothing was processing

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)


# --- the clients


def _hex(serial: int) -> str:
    """A serial as the inventory stores it: lowercase hex, an even number of digits."""
    digits = f"{serial:x}"
    return digits if len(digits) % 2 == 0 else "0" + digits


def _serial(pem: bytes) -> tuple[str, bytes]:
    """(serial, DER) of a chain's leaf."""
    leaf = x509.load_pem_x509_certificates(pem)[0]
    return _hex(leaf.serial_number), leaf.public_bytes(Encoding.DER)


def _document(reply: Reply, step: str) -> dict[str, Any]:
    if reply.status_code >= 500:
        raise Transient(describe(step, reply))
    if reply.status_code != 200:
        raise OrderFailed(describe(step, reply))
    try:
        document: dict[str, Any] = reply.json()
    except ValueError:
        raise Transient(describe(step, reply)) from None
    return document


def _problem_type(reply: Reply) -> str:
    try:
        return str(reply.json().get("type", ""))
    except (ValueError, AttributeError):
        return ""


@dataclass
class Worker:
    """One client coroutine: orders one fresh name after another until told to stop, revoking a share
    of what it gets."""

    account: Account
    index: int
    observed: Observed
    rng: random.Random
    revoke_share: float
    # Cleared while a restarted server's CRL is checked: no new revocation (whose own CRL would list
    # the earlier ones too) may hide a CRL the restart failed to publish.
    revoking: asyncio.Event
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    async def run(self, stop: asyncio.Event) -> None:
        number = 0
        while not stop.is_set():
            number += 1
            name = f"w{self.index}-{number}-{self.tag}.fault.example.com"
            await self.order(name, csr_der(name, key=self.key))

    async def order(self, name: str, csr: bytes) -> None:
        """One order from newOrder to its certificate (and maybe its revocation), resumed from the
        order URL after every failed request."""
        order_url: str | None = None
        deadline = time.monotonic() + ORDER_DEADLINE
        counts = self.observed.counts
        while time.monotonic() < deadline:
            try:
                if order_url is None:
                    order_url = await self._new_order(name)
                if await self._step(order_url, csr):
                    return
                await asyncio.sleep(POLL_DELAY)
            except (aiohttp.ClientError, OSError, TimeoutError, Transient, OrderFailed, ValueError) as e:
                counts["retried requests"] += 1
                if isinstance(e, OrderFailed):
                    counts["refused requests"] += 1
                await asyncio.sleep(RETRY_DELAY)
        counts["orders given up"] += 1

    async def _new_order(self, name: str) -> str:
        reply = await self.account.post(
            self.account.directory["newOrder"], {"identifiers": [{"type": "dns", "value": name}]}
        )
        if reply.status_code != 201:
            raise Transient(describe("newOrder", reply))
        self.observed.counts["orders created"] += 1
        return reply.headers["Location"]

    async def _step(self, order_url: str, csr: bytes) -> bool:
        """One look at the order and the next step for its state; True once the order has ended."""
        order = _document(await self.account.post(order_url), "order")
        status = order.get("status")
        if status == "pending":
            await self._answer(order["authorizations"])
        elif status == "ready":
            reply = await self.account.post(order["finalize"], {"csr": b64encode(csr)})
            if reply.status_code >= 500:
                raise Transient(describe("finalize", reply))
            # 403 orderNotReady: another attempt of ours (cut short by a kill) got there first; poll
        elif status == "valid":
            await self._valid(order_url, order["certificate"])
            return True
        elif status == "invalid":
            self.observed.counts["orders invalid"] += 1
            self.observed.errors[str((order.get("error") or {}).get("type", "?"))] += 1
            return True
        return False

    async def _answer(self, authorizations: Sequence[str]) -> None:
        for url in authorizations:
            authorization = _document(await self.account.post(url), "authorization")
            if authorization.get("status") != "pending":
                continue
            challenge = next(c for c in authorization["challenges"] if c["type"] == "http-01")
            if challenge.get("status") == "pending":
                _document(await self.account.post(challenge["url"], {}), "challenge")

    async def _valid(self, order_url: str, certificate_url: str) -> None:
        reply = await self.account.post(certificate_url)
        if reply.status_code != 200:
            raise Transient(describe("certificate", reply))
        serial, der = _serial(reply.content)
        self.observed.valid[order_url] = (certificate_url, serial)
        self.observed.counts["orders seen valid"] += 1
        if self.rng.random() < self.revoke_share:
            await self._revoke(serial, der)

    async def _revoke(self, serial: str, der: bytes) -> None:
        """revokeCert until it is acknowledged: 200, or alreadyRevoked when a kill cut the first
        answer short (the revocation was made)."""
        deadline = time.monotonic() + ORDER_DEADLINE
        while time.monotonic() < deadline:
            await self.revoking.wait()
            try:
                reply = await self.account.post(
                    self.account.directory["revokeCert"], {"certificate": b64encode(der)}
                )
            except (aiohttp.ClientError, OSError, TimeoutError, OrderFailed, ValueError):
                self.observed.counts["retried requests"] += 1
                await asyncio.sleep(RETRY_DELAY)
                continue
            if reply.status_code == 200 or _problem_type(reply) == ERR + "alreadyRevoked":
                self.observed.revoked.add(serial)
                self.observed.counts["revocations acknowledged"] += 1
                return
            self.observed.counts["retried requests"] += 1
            await asyncio.sleep(RETRY_DELAY)
        self.observed.counts["revocations given up"] += 1


async def _register(http: Http, directory_url: str, key: ec.EllipticCurvePrivateKey) -> Account:
    for _ in range(20):
        with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError, OrderFailed):
            return await Account.register(http, directory_url, key)
        await asyncio.sleep(RETRY_DELAY)
    raise StartupError("no account could be registered")


# --- the database, read directly


async def _rows(engine: AsyncEngine, sql: str, **params: Any) -> list[Any]:
    async with engine.connect() as connection:
        return list((await connection.execute(text(sql), params)).all())


async def _count(engine: AsyncEngine, sql: str) -> int:
    return int((await _rows(engine, sql))[0][0])


async def _revocations(engine: AsyncEngine) -> dict[str, set[str]]:
    """ca_id -> serials revoked in the database."""
    found: dict[str, set[str]] = {}
    for ca_id, serial in await _rows(engine, "SELECT ca_id, serial FROM revocations"):
        found.setdefault(ca_id, set()).add(serial)
    return found


async def _crl_urls(engine: AsyncEngine) -> dict[str, str]:
    """ca_id -> the CRL distribution point its certificates name (one certificate per CA read)."""
    urls: dict[str, str] = {}
    for ca_id, pem in await _rows(
        engine, "SELECT ca_id, min(certificate_pem) FROM certificates WHERE ca_id IS NOT NULL GROUP BY ca_id"
    ):
        certificate = x509.load_pem_x509_certificate(pem.encode())
        points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        urls[ca_id] = str(points[0].full_name[0].value)
    return urls


async def _missing_from_crls(http: Http, engine: AsyncEngine, wanted: dict[str, set[str]]) -> list[str]:
    """Serials in `wanted` that the served CRL of their CA does not list."""
    urls = await _crl_urls(engine)
    missing = []
    for ca_id, serials in wanted.items():
        reply = await http.get(urls[ca_id])
        if reply.status_code != 200:
            raise Transient(f"CRL of {ca_id}: HTTP {reply.status_code}")
        crl = x509.load_der_x509_crl(reply.content)
        listed = {_hex(entry.serial_number) for entry in crl}
        missing += sorted(f"{ca_id}:{s}" for s in serials - listed)
    return missing


async def _crl_has_every_revocation(
    http: Http, engine: AsyncEngine, wanted: dict[str, set[str]], timeout: float
) -> tuple[float | None, list[str]]:
    """Poll the served CRLs until they list every serial in `wanted`: (seconds it took or None, what
    was still missing at the end)."""
    started = time.monotonic()
    missing: list[str] = []
    while time.monotonic() - started < timeout:
        try:
            missing = await _missing_from_crls(http, engine, wanted)
        except (aiohttp.ClientError, OSError, TimeoutError, Transient) as error:
            missing = [f"CRL unavailable: {error}"]
        if not missing:
            return time.monotonic() - started, []
        await asyncio.sleep(0.5)
    return None, missing


async def _settle(engine: AsyncEngine, timeout: float) -> tuple[int, int]:
    """Wait until no order and no challenge is `processing` (recovery and the validation worker's
    takeover after a kill), at most `timeout`; what is left of each."""
    deadline = time.monotonic() + timeout
    while True:
        orders = await _count(engine, PROCESSING_ORDERS)
        challenges = await _count(engine, PROCESSING_CHALLENGES)
        if (orders == 0 and challenges == 0) or time.monotonic() > deadline:
            return orders, challenges
        await asyncio.sleep(0.5)


def _last(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


async def check_invariants(
    http: Http, engine: AsyncEngine, observed: Observed, report: Report, *, settle_timeout: float
) -> None:
    """Every invariant of the module docstring, read from the database after the last restart."""
    checks = report.checks

    def check(name: str, problems: Sequence[str], detail: str) -> None:
        checks.append(
            Check(
                name, not problems, detail if not problems else f"{len(problems)} failed", list(problems[:5])
            )
        )

    settling = time.monotonic()
    processing, challenges = await _settle(engine, settle_timeout)
    report.settle_seconds = round(time.monotonic() - settling, 1)
    check("no order stays processing", [f"{processing} order(s) processing"] if processing else [], "none")
    check(
        "pending validations resume",
        [f"{challenges} challenge(s) still processing after {settle_timeout:.0f} s"] if challenges else [],
        "no challenge left processing",
    )
    orders = {
        row[0]: (row[1], row[2])
        for row in await _rows(engine, "SELECT id, status, certificate_id FROM acme_orders")
    }
    certificates = await _rows(
        engine, "SELECT id, order_id, ca_id, serial FROM certificates WHERE enrollment = 'acme'"
    )
    by_order = Counter(row[1] for row in certificates)
    problems = []
    for order_url, (certificate_url, serial) in observed.valid.items():
        order_id, certificate_id = _last(order_url), _last(certificate_url)
        status, stored = orders.get(order_id, ("missing", None))
        if status != "valid" or stored != certificate_id or by_order[order_id] != 1:
            problems.append(
                f"order {order_id}: {status}, certificate {stored} (client saw {certificate_id}), "
                f"{by_order[order_id]} certificate(s)"
            )
        elif serial not in {row[3] for row in certificates if row[0] == certificate_id}:
            problems.append(f"order {order_id}: the client's serial {serial} is not its certificate's")
    check(
        "each order seen valid has exactly one certificate",
        problems,
        f"{len(observed.valid)} orders seen valid",
    )
    orphans = [
        f"certificate {row[0]} (order {row[1]}: {orders.get(row[1] or '', ('missing', None))})"
        for row in certificates
        if orders.get(row[1] or "", ("missing", None)) != ("valid", row[0])
    ]
    valid_without = [
        f"order {order_id} valid without a certificate"
        for order_id, (status, certificate_id) in orders.items()
        if status == "valid" and (certificate_id is None or by_order[order_id] != 1)
    ]
    check(
        "no certificate lacks its order",
        orphans + valid_without,
        f"{len(certificates)} ACME certificates, each its valid order's",
    )
    repeated = await _rows(
        engine, "SELECT ca_id, serial, count(*) FROM certificates GROUP BY ca_id, serial HAVING count(*) > 1"
    )
    check("no serial repeats", [f"{row[1]} x{row[2]}" for row in repeated], "all serials distinct")
    revocations = await _revocations(engine)
    in_database = {serial for serials in revocations.values() for serial in serials}
    unrecorded = sorted(observed.revoked - in_database)
    _, missing = await _crl_has_every_revocation(http, engine, revocations, CRL_TIMEOUT)
    check(
        "every revocation is in the CRL",
        [f"acknowledged, not in the database: {s}" for s in unrecorded] + missing,
        f"{len(in_database)} revocations ({len(observed.revoked)} acknowledged) listed",
    )
    late = [
        f"kill {k.number}: the CRL missed a revocation made before it"
        for k in report.kills
        if k.crl_seconds is None
    ]
    check(
        "every revocation made before a kill is in the next CRL",
        late,
        f"after each of {len(report.kills)} restarts",
    )
    report.database = {
        "orders": len(orders),
        "valid orders": sum(1 for status, _ in orders.values() if status == "valid"),
        "invalid orders": sum(1 for status, _ in orders.values() if status == "invalid"),
        "ACME certificates": len(certificates),
        "revocations": len(in_database),
    }


# --- the run


@dataclass(frozen=True)
class Plan:
    kills: int
    concurrency: int
    seed: int
    revoke_share: float
    min_gap: float  # seconds of load before a kill, drawn between these two
    max_gap: float
    replicas: int = 1  # servers on the database behind the balancer; each kill takes one of them


# The kill moments, in turn: after a random time of load; the moment an order is processing (a
# finalize in flight); the moment a revocation is committed (its CRL is still being made).
MOMENTS = ("random", "finalize", "revocation")


async def _wait_for_moment(engine: AsyncEngine, moment: str, timeout: float) -> bool:
    """Poll (every few ms) until the moment has come: some order processing, or a new revocation."""
    if moment == "random":
        return True
    baseline = await _count(engine, REVOCATIONS)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if moment == "finalize" and await _count(engine, PROCESSING_ORDERS):
            return True
        if moment == "revocation" and await _count(engine, REVOCATIONS) > baseline:
            return True
        await asyncio.sleep(0.003)
    return False


async def _kill_and_restart(
    target: OurTarget,
    engine: AsyncEngine,
    http: Http,
    revoking: asyncio.Event,
    number: int,
    moment: str,
    started: float,
    replica: int | None,
) -> Kill:
    """SIGKILL `replica` (None: the server), restart it, and wait for the CRL to list every revocation
    made before the kill (with the clients' revocations paused until then)."""
    revoking.clear()
    target.kill(replica)
    killed_at = time.monotonic()
    before = await _revocations(engine)  # revocations are paused: the kill came after these
    kill = Kill(
        number,
        moment if replica is None else f"{moment} (replica {replica + 1})",
        round(killed_at - started, 2),
        await _count(engine, PROCESSING_ORDERS),
        sum(len(s) for s in before.values()),
        await _count(engine, UNPUBLISHED),
        await _count(engine, PROCESSING_CHALLENGES),
    )
    await asyncio.to_thread(target.restart, str(number), replica)
    kill.restart_seconds = round(time.monotonic() - killed_at, 2)
    seconds, _ = await _crl_has_every_revocation(http, engine, before, CRL_TIMEOUT)
    kill.crl_seconds = None if seconds is None else round(seconds, 2)
    revoking.set()
    print(f"  kill {number} ({moment}): {asdict(kill)}", file=sys.stderr)
    return kill


async def drive(
    target: OurTarget, database_url: str, plan: Plan, report: Report, key: ec.EllipticCurvePrivateKey
) -> Observed:
    """Load, kills and restarts, then the checks; what the clients (one account, `key`) saw."""
    rng = random.Random(plan.seed)
    engine = create_async_engine(normalize_url(database_url))
    observed = Observed()
    try:
        async with Http(
            target.ssl_context(), connections=plan.concurrency + 4, timeout=REQUEST_TIMEOUT
        ) as http:
            account = await _register(http, target.directory_url, key)
            stop, revoking = asyncio.Event(), asyncio.Event()
            revoking.set()
            workers = [
                Worker(account, w, observed, random.Random(rng.random()), plan.revoke_share, revoking)
                for w in range(plan.concurrency)
            ]
            tasks = [asyncio.create_task(worker.run(stop)) for worker in workers]
            started = time.monotonic()
            try:
                for number in range(1, plan.kills + 1):
                    await asyncio.sleep(rng.uniform(plan.min_gap, plan.max_gap))
                    moment = MOMENTS[(number - 1) % len(MOMENTS)]
                    if not await _wait_for_moment(engine, moment, MOMENT_WAIT):
                        moment = f"random (no {moment} came)"
                    report.kills.append(
                        await _kill_and_restart(
                            target,
                            engine,
                            http,
                            revoking,
                            number,
                            moment,
                            started,
                            rng.randrange(plan.replicas) if plan.replicas > 1 else None,
                        )
                    )
                await asyncio.sleep(plan.max_gap)  # load on the last restart too
            finally:
                report.seconds = round(time.monotonic() - started, 1)
                stop.set()  # every client finishes the order it has (a stuck validation may take a while)
                done, pending = await asyncio.wait(tasks, timeout=ORDER_DEADLINE + 10)
                for task in pending:
                    task.cancel()
                for task in done:
                    task.result()  # a bug in the client is loud
            report.drain_seconds = round(time.monotonic() - started - report.seconds, 1)
            await check_invariants(http, engine, observed, report, settle_timeout=SETTLE_TIMEOUT)
    finally:
        await engine.dispose()
    report.clients = dict(observed.counts) | {f"invalid: {k}": v for k, v in observed.errors.items()}
    return observed


@contextlib.contextmanager
def _server(
    engine: str, admin_url: str, workdir: Path, key_thumbprint: str, replicas: int
) -> Iterator[tuple[OurTarget, str]]:
    """challtestsrv, `acme-server serve` (`replicas` of it behind the balancer) on a fresh database of
    `engine`, the http-01 responder."""
    (workdir / "challtestsrv").mkdir(parents=True, exist_ok=True)
    challtestsrv = ChallTestSrv(workdir / "challtestsrv")
    try:
        with session_database(admin_url if engine == "postgres" else None) as database_url:
            target = start_ours(
                workdir / "server",
                challtestsrv,
                database_url=database_url,
                workers=1,
                replicas=replicas,
                environment={"ACME_SERVER_PROCESSING_LEASE": str(PROCESSING_LEASE)},
            )
            try:
                with responder(target, key_thumbprint, workdir):
                    yield (
                        target,
                        database_url or f"sqlite:///{(target.workdir / 'data' / 'acme-server.db').resolve()}",
                    )
            finally:
                target.stop()
    finally:
        challtestsrv.stop()


def run(args: argparse.Namespace, workdir: Path) -> Report:
    plan = Plan(
        args.kills, args.concurrency, args.seed, args.revoke_share, args.min_gap, args.max_gap, args.replicas
    )
    engine = args.engine if args.replicas == 1 else f"{args.engine}, {args.replicas} replicas"
    report = Report(engine, args.seed)
    # One account key for the run: the responder answers every token with its thumbprint.
    key = ec.generate_private_key(ec.SECP256R1())
    thumbprint = jwk_of(key.public_key()).thumbprint
    with _server(args.engine, args.database, workdir, thumbprint, args.replicas) as (target, url):
        asyncio.run(drive(target, url, plan, report, key))
    return report


def render(report: Report) -> str:
    kills = report.kills
    moments = Counter(k.moment.split(" ")[0] for k in kills)  # "random (no finalize came)": random
    restarts = [k.restart_seconds for k in kills]
    lines = [
        f"fault injection, {report.engine}: {len(kills)} SIGKILLs ({moments['random']} at random moments, "
        f"{moments['finalize']} with a finalize in flight, {moments['revocation']} just after a "
        f"revocation was committed), {report.seconds:.0f} s of load, seed {report.seed}",
        f"  orders processing at a kill: {sum(k.processing_orders for k in kills)} in all; revocations "
        f"not yet in a CRL at a kill: {sum(k.unpublished for k in kills)}; validations in flight at a "
        f"kill: {sum(k.validations for k in kills)}; the clients finished {report.drain_seconds:.0f} s "
        f"after the load, all settled {report.settle_seconds:.0f} s later; restart "
        f"{min(restarts, default=0):.1f}-{max(restarts, default=0):.1f} s",
        "  clients: " + ", ".join(f"{k} {v}" for k, v in sorted(report.clients.items())),
        "  database: " + ", ".join(f"{k} {v}" for k, v in report.database.items()),
    ]
    for check in report.checks:
        lines.append(f"  {'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
        lines += [f"         {sample}" for sample in check.samples]
    lines.append("result: " + ("every invariant held" if report.ok else "AN INVARIANT FAILED"))
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fault_injection", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--engine", choices=ENGINES, default="sqlite")
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs, each followed by a restart (20)")
    parser.add_argument("--concurrency", type=int, default=8, help="clients issuing at once (8)")
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="servers on one PostgreSQL database behind a round-robin balancer, clients on all of them; "
        "each kill takes one at random (1)",
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (kill moments, revocations)")
    parser.add_argument(
        "--revoke-share", type=float, default=0.25, help="share of certificates revoked (0.25)"
    )
    parser.add_argument(
        "--min-gap", type=float, default=1.0, help="seconds of load before a kill, at least (1)"
    )
    parser.add_argument("--max-gap", type=float, default=4.0, help="... and at most (4)")
    parser.add_argument(
        "--database",
        default=DEFAULT_DATABASE,
        help=f"PostgreSQL admin URL for --engine postgres ({DEFAULT_DATABASE})",
    )
    parser.add_argument("--json", type=Path, help="also write the report as JSON to this file")
    parser.add_argument(
        "--workdir", type=Path, help="keep the server's logs and data here (a temporary directory)"
    )
    args = parser.parse_args(argv)
    if args.kills < 1 or args.concurrency < 1 or not 0 <= args.revoke_share <= 1:
        parser.error("--kills and --concurrency must be at least 1, --revoke-share within 0..1")
    if args.replicas < 1 or (args.replicas > 1 and args.engine != "postgres"):
        parser.error("--replicas must be at least 1, and more than 1 needs --engine postgres")
    if not 0 < args.min_gap <= args.max_gap:
        parser.error("--min-gap must be positive and at most --max-gap")
    if args.seed is None:
        args.seed = secrets.randbelow(2**31)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"fault injection on {args.engine}, seed {args.seed}", file=sys.stderr)
    with contextlib.ExitStack() as stack:
        workdir = args.workdir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="acme-faults-"))
        )
        try:
            report = run(args, workdir)
        except StartupError as error:
            print(f"error: a server did not start: {error}", file=sys.stderr)
            return 2
    print(render(report))
    if args.json:
        args.json.write_text(json.dumps(asdict(report) | {"ok": report.ok}, indent=2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
