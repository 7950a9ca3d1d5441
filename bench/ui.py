"""Server-side render time of the web UI's certificates table and details page with 10,000 certificates
in the inventory (SQLite), as the request log measures it (routing, session, services, template).

    .venv/bin/python bench/ui.py [--certificates 10000] [--rounds 30]

A few certificates are issued for real (Ed25519 keys); the rest are stored as copies of them with their
own serials, names and metadata in one storage transaction, which takes seconds instead of minutes.
A benchmark script may seed through storage; the UI itself only calls services."""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import secrets
import statistics
import tempfile

import httpx

from acme_server.app import create_app
from acme_server.config import Settings, load_settings
from acme_server.services import bootstrap, certificates, tokens
from acme_server.services.certificates import ManagedRequest
from acme_server.services.runtime import open_runtime
from acme_server.services.tokens import Role
from acme_server.ui.session import COOKIE, Session, SessionCodec
from ca_core.keys import KeyAlgorithm
from ca_core.request import Subject, SubjectAltNames

REAL = 20  # issued for real; the others copy them
TEAMS = ("payments", "search", "ops", "data", "web")


async def seed(settings: Settings, count: int) -> tuple[str, str]:
    """Fill the inventory; returns (a session cookie value, the id of one certificate)."""
    rt = await open_runtime(settings)
    try:
        await bootstrap.ensure_dev_setup(rt)
        issued = []
        for i in range(min(REAL, count)):
            name = f"real-{i}.bench.example"
            issued.append(
                await certificates.issue_certificate(
                    rt,
                    profile="default",
                    managed=ManagedRequest(
                        Subject(common_name=name), SubjectAltNames(dns=(name,)), KeyAlgorithm.ED25519
                    ),
                    metadata={"team": TEAMS[i % len(TEAMS)], "env": "prod"},
                )
            )
        async with rt.storage.transaction() as tx:
            for i in range(count - len(issued)):
                model = issued[i % len(issued)]
                name = f"host-{i}.bench.example"
                await tx.certificates.create(
                    ca_id=model.ca_id,
                    profile_id=model.profile_id,
                    serial=secrets.token_hex(16),
                    common_name=name,
                    friendly_name=name,
                    not_before=model.not_before,
                    not_after=model.not_after,
                    certificate_pem=model.certificate_pem,
                    chain_pem=model.chain_pem,
                    key_algorithm=model.details.key_algorithm,
                    fingerprint_sha256=secrets.token_hex(32),
                    san_text=name,
                    metadata={"team": TEAMS[i % len(TEAMS)], "env": ("prod", "staging")[i % 2]},
                )
        token, _ = await tokens.create_token(rt, "bench", Role.VIEWER)
        cookie = SessionCodec(rt.kek).encode(Session.new(rt.clock.now(), token=token))
        return cookie, issued[0].id
    finally:
        await rt.storage.close()


class Timings(logging.Handler):
    """Collects the `ms` of each request line the app's RequestLog middleware writes."""

    def __init__(self) -> None:
        super().__init__()
        self.ms: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.ms.append(float(record.fields["ms"]))  # type: ignore[attr-defined]


async def measure(client: httpx.AsyncClient, timings: Timings, path: str, rounds: int) -> dict[str, float]:
    for _ in range(3):  # warm-up: template compilation, caches
        (await client.get(path)).raise_for_status()
    timings.ms.clear()
    for _ in range(rounds):
        (await client.get(path)).raise_for_status()
    ordered = sorted(timings.ms)
    return {
        "median_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[math.ceil(len(ordered) * 0.95) - 1], 1),
        "max_ms": round(ordered[-1], 1),
    }


async def run(settings: Settings, count: int, rounds: int) -> None:
    cookie, certificate_id = await seed(settings, count)
    timings = Timings()
    access = logging.getLogger("acme_server.access")
    access.addHandler(timings)
    access.setLevel(logging.INFO)
    pages = {
        "certificates table (page 1)": "/ui/certificates",
        "certificates table (page 200)": "/ui/certificates?page=200",
        "filtered by metadata team=ops env=prod": "/ui/certificates?metadata=team=ops&metadata=env=prod",
        "search 'host-99'": "/ui/certificates?q=host-99",
        "expiring within 365 days": "/ui/certificates?expiring=365",
        "certificate details": f"/ui/certificates/{certificate_id}",
    }
    print(f"{count} certificates, SQLite, {rounds} requests each (server-side time per request)")
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://bench", cookies={COOKIE: cookie}
        ) as client,
    ):
        for label, path in pages.items():
            result = await measure(client, timings, path, rounds)
            print(f"  {label:40} " + "  ".join(f"{k} {v:6.1f}" for k, v in result.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--certificates", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(run(load_settings({"data_dir": directory}, {}), args.certificates, args.rounds))


if __name__ == "__main__":
    main()
