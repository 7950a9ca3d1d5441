"""The certificate inventory at fleet size: REST API list and metadata filters and the web UI's pages
with 100,000 certificates, on SQLite and PostgreSQL, p50/p99 of the server-side time per request.

    .venv/bin/python -m bench.inventory                          # 100,000 certificates, both engines
    .venv/bin/python -m bench.inventory --certificates 10000 --engines sqlite --rounds 30
    .venv/bin/python -m bench.inventory --quick                  # harness check, seconds

A few certificates are issued for real through the services (Ed25519 keys); the rest are copies of
them with their own serials, names and metadata, bulk-inserted in one storage transaction (a benchmark
may seed through storage; the API and the UI only call services). Every certificate carries `team` (5
values), `env` (2) and a unique `host`; every 1,000th is revoked. Each request goes through the whole
app (middleware, token or session, services, storage, rendering) over an in-process ASGI transport, and
its time is the `ms` the app's own request log writes, so the client's cost is not in the figures.
Timings are printed, never asserted. Issue 11's target: a metadata filter's p99 under 50 ms."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import secrets
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from acme_server.app import create_app
from acme_server.config import Settings, load_settings
from acme_server.services import issuance
from acme_server.services.access import tokens, ui_sessions
from acme_server.services.access.tokens import Role
from acme_server.services.inventory.certificates import CertificateInfo
from acme_server.services.issuance import ManagedRequest
from acme_server.services.platform import bootstrap
from acme_server.services.runtime import open_runtime
from acme_server.storage.tables import certificate_metadata
from acme_server.storage.tables import certificates as certificates_table
from acme_server.ui.session import COOKIE, Session, SessionCodec
from ca_core.keys import KeyAlgorithm
from ca_core.request import Subject, SubjectAltNames
from conformance.servers import session_database

REAL = 20  # issued for real; the others copy them
TEAMS = ("payments", "search", "ops", "data", "web")
BATCH = 5_000
API = "/api/v1/cert-manager/certificates"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


def _copies(issued: list[CertificateInfo], count: int, start: int) -> Iterator[tuple[dict[str, Any], ...]]:
    """Rows for certificates start..count: (certificate row, its metadata rows…)."""
    for i in range(start, count):
        model = issued[i % len(issued)]
        name = f"host-{i}.bench.example"
        certificate_id = f"bench-{i:08d}"
        revoked = i % 1000 == 999
        row = {
            "id": certificate_id, "ca_id": model.ca_id, "profile_id": model.profile_id,
            "serial": secrets.token_hex(16), "common_name": name, "friendly_name": name,
            "status": "revoked" if revoked else "active", "not_before": model.not_before,
            "not_after": model.not_after, "certificate_pem": model.certificate_pem,
            "chain_pem": model.chain_pem, "key_algorithm": model.details.key_algorithm,
            "san_text": name, "fingerprint_sha256": secrets.token_hex(32), "enrollment": "api",
            # one issued every 30 s or so, as a fleet's inventory fills over time
            "created_at": model.not_before - timedelta(seconds=30 * (count - i)),
            "revoked_at": model.not_before if revoked else None,
        }  # fmt: skip
        pairs = {"team": TEAMS[i % len(TEAMS)], "env": ("prod", "staging")[i % 2], "host": name}
        yield row, *({"certificate_id": certificate_id, "key": k, "value": v} for k, v in pairs.items())


async def vacuum_analyze(url: str) -> None:
    """What autovacuum does within a minute of a bulk load. Without statistics the planner takes the
    fresh tables for empty and joins metadata by nested loops (a 2-pair filter took half a minute);
    without the visibility map an index-only scan visits every row anyway."""
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg:", "postgresql:"))
    try:
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


async def seed(settings: Settings, count: int) -> tuple[str, str]:
    """Fill the inventory; returns (an API token of the viewer role, the id of one certificate)."""
    rt = await open_runtime(settings)
    try:
        await bootstrap.ensure_dev_setup(rt)
        issued = []
        for i in range(min(REAL, count)):
            name = f"real-{i}.bench.example"
            issued.append(
                await issuance.issue_certificate(
                    rt,
                    profile="default",
                    managed=ManagedRequest(
                        Subject(common_name=name), SubjectAltNames(dns=(name,)), KeyAlgorithm.ED25519
                    ),
                    metadata={"team": TEAMS[i % len(TEAMS)], "env": "prod", "host": name},
                )
            )
        rows = _copies(issued, count, len(issued))
        async with rt.storage.transaction() as tx:
            connection = tx.certificates._connection
            while batch := [next(rows, None) for _ in range(BATCH)]:
                present = [r for r in batch if r is not None]
                if not present:
                    break
                await connection.execute(certificates_table.insert(), [r[0] for r in present])
                await connection.execute(certificate_metadata.insert(), [m for r in present for m in r[1:]])
        if settings.database_url.startswith("postgresql"):
            await vacuum_analyze(settings.database_url)
        token, _ = await tokens.create_token(rt, "bench", Role.VIEWER)
        return token, issued[0].id
    finally:
        await rt.storage.close()


class Timings(logging.Handler):
    """Collects the `ms` of each request line the app's request log writes."""

    def __init__(self) -> None:
        super().__init__()
        self.ms: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.ms.append(float(record.fields["ms"]))  # type: ignore[attr-defined]


@contextmanager
def request_log() -> Iterator[Timings]:
    timings, access = Timings(), logging.getLogger("acme_server.access")
    access.addHandler(timings)
    level, access.level = access.level, logging.INFO
    try:
        yield timings
    finally:
        access.removeHandler(timings)
        access.setLevel(level)


def percentile(ordered: list[float], share: float) -> float:
    return ordered[max(0, math.ceil(len(ordered) * share) - 1)]


async def measure(client: httpx.AsyncClient, timings: Timings, path: str, rounds: int) -> dict[str, float]:
    for _ in range(3):  # warm-up: template compilation, caches, the database's own caches
        (await client.get(path)).raise_for_status()
    timings.ms.clear()
    for _ in range(rounds):
        (await client.get(path)).raise_for_status()
    ordered = sorted(timings.ms)
    return {
        "p50_ms": round(statistics.median(ordered), 1),
        "p99_ms": round(percentile(ordered, 0.99), 1),
        "max_ms": round(ordered[-1], 1),
    }


def pages(count: int, certificate_id: str) -> dict[str, str]:
    """What is requested: label -> path. Deep pages are near the end of the inventory."""
    deep = max(0, count - 100)
    return {
        "API list, first page (50)": f"{API}?limit=50",
        f"API list, offset {deep}": f"{API}?limit=50&offset={deep}",
        "API metadata team=ops": f"{API}?metadata=team=ops&limit=50",
        "API metadata team=ops env=prod": f"{API}?metadata=team=ops&metadata=env=prod&limit=50",
        "API metadata host=<one>": f"{API}?metadata=host=host-{count // 2}.bench.example",
        "API status=revoked": f"{API}?status=revoked&limit=50",
        "API search 'host-99'": f"{API}?search=host-99&limit=50",
        "API details": f"{API}/{certificate_id}",
        "UI table (page 1)": "/ui/certificates",
        "UI table (page 200)": "/ui/certificates?page=200",
        "UI metadata team=ops env=prod": "/ui/certificates?metadata=team=ops&metadata=env=prod",
        "UI search 'host-99'": "/ui/certificates?q=host-99",
        "UI details": f"/ui/certificates/{certificate_id}",
    }


@contextmanager
def engine_settings(engine: str, admin_url: str) -> Iterator[Settings]:
    """Settings on a fresh data directory and, for PostgreSQL, a fresh database (dropped after)."""
    with tempfile.TemporaryDirectory() as directory:
        if engine == "sqlite":
            yield load_settings({"data_dir": directory}, {})
            return
        with session_database(admin_url) as url:
            yield load_settings({"data_dir": directory, "database": url}, {})


async def run_engine(engine: str, settings: Settings, count: int, rounds: int) -> dict[str, Any]:
    seeding = time.perf_counter()
    token, certificate_id = await seed(settings, count)
    seed_s = time.perf_counter() - seeding
    print(f"\n{count} certificates on {engine} (seeded in {seed_s:.0f} s), {rounds} requests each")
    app = create_app(settings)
    results: dict[str, Any] = {"engine": engine, "certificates": count, "seed_s": seed_s, "pages": {}}
    async with app.router.lifespan_context(app):
        rt = app.state.runtime
        # a server-side session, as signing in makes one (services/access/ui_sessions.py)
        secret = await ui_sessions.start_session(rt, await tokens.authenticate(rt, token))
        cookie = SessionCodec(rt.kek).encode(Session.new(rt.clock.now(), secret=secret))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="https://bench",
            headers={"Authorization": f"Bearer {token}"},
            cookies={COOKIE: cookie},
        ) as client:
            with request_log() as timings:
                for label, path in pages(count, certificate_id).items():
                    row = await measure(client, timings, path, rounds)
                    results["pages"][label] = row
                    print(f"  {label:36} " + "  ".join(f"{k} {v:7.1f}" for k, v in row.items()), flush=True)
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.inventory", description=__doc__.splitlines()[0])
    parser.add_argument("--certificates", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=100, help="requests per page (p99 needs 100)")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--database", default=DEFAULT_PG, help="PostgreSQL server for a fresh database")
    parser.add_argument("--quick", action="store_true", help="200 certificates, 3 rounds, SQLite")
    parser.add_argument("--json", help="also write the results to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.quick:
        args.certificates, args.rounds, args.engines = 200, 3, "sqlite"
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    results = []
    for engine in engines:
        with engine_settings(engine, args.database) as settings:
            results.append(asyncio.run(run_engine(engine, settings, args.certificates, args.rounds)))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
