"""CPU per storage call on the ACME hot path, in process (no HTTP, no client): the used nonce and the
account read of every POST (redeem, read_one), an order poll's read (order + its authorizations in one
read()), and a one-update write transaction (a challenge's begin_processing), on SQLite and PostgreSQL.

Process CPU time (not wall time) per call is the figure: it is what a pinned server core spends, and
it is steadier than throughput on a shared machine. PostgreSQL's own backend CPU is not in it.

    PYTHONPATH=. .venv/bin/python -m bench.storage_path            # both engines, 2000 calls each
    PYTHONPATH=. .venv/bin/python -m bench.storage_path --quick    # harness check (CI)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from acme_server.statuses import AuthorizationStatus
from acme_server.storage import NewAuthorization, Storage

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


async def _measure(name: str, calls: int, call: Callable[[], Awaitable[object]]) -> dict[str, float]:
    for _ in range(min(200, calls)):  # warm caches, prepared statements, pools
        await call()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        await call()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"cpu_us": cpu / calls * 1e6, "wall_us": wall / calls * 1e6}


async def run_engine(url: str, calls: int) -> dict[str, dict[str, float]]:
    storage = await Storage.open(url)
    try:
        now = datetime.now(UTC)
        async with storage.transaction() as tx:
            thumbprint = secrets.token_urlsafe(32)
            account = await tx.accounts.create(
                jwk_thumbprint=thumbprint,
                jwk={"kty": "EC", "crv": "P-256", "x": thumbprint, "y": "y"},
                contacts=["mailto:admin@example.com"],
                terms_agreed=True,
            )
            names = ("a.example", "b.example")
            authorizations = await tx.authorizations.create_many(
                [
                    NewAuthorization(
                        account_id=account.id,
                        identifier_type="dns",
                        identifier_value=name,
                        wildcard=False,
                        status=AuthorizationStatus.PENDING,
                        expires_at=now + timedelta(days=7),
                        pre_authorized=False,
                        challenges=(("http-01", secrets.token_urlsafe(16)),),
                    )
                    for name in names
                ]
            )
            order = await tx.orders.create(
                account_id=account.id,
                profile_id=None,
                identifiers=[{"type": "dns", "value": name} for name in names],
                not_before=None,
                not_after=None,
                expires_at=now + timedelta(days=7),
                authorization_ids=[a.id for a in authorizations],
            )
        challenge_id = authorizations[0].challenges[0].id

        async def account_read() -> object:
            async with storage.read_one() as tx:
                return await tx.accounts.get(account.id)

        async def order_poll() -> object:
            async with storage.read() as tx:
                found = await tx.orders.get(order.id)
                assert found is not None
                return await tx.authorizations.get_many(found.authorization_ids)

        async def one_update() -> object:
            async with storage.transaction() as tx:
                return await tx.challenges.begin_processing(challenge_id)

        async def nonce_redeem() -> object:
            issued = datetime.now(UTC)
            return await storage.nonces.redeem(
                secrets.token_urlsafe(16), issued_at=issued, expires_at=issued + timedelta(hours=1)
            )

        return {
            "used nonce (redeem)": await _measure("nonce", calls, nonce_redeem),
            "account read (read_one)": await _measure("account", calls, account_read),
            "order poll (read: order + authorizations)": await _measure("poll", calls, order_poll),
            "write transaction (one UPDATE)": await _measure("write", calls, one_update),
        }
    finally:
        await storage.close()


async def run(calls: int, engines: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    results: dict[str, dict[str, dict[str, float]]] = {}
    if "sqlite" in engines:
        with tempfile.TemporaryDirectory() as directory:
            results["sqlite"] = await run_engine(str(Path(directory) / "bench.db"), calls)
    if "postgresql" in engines:
        name = f"bench_storage_{secrets.token_hex(4)}"
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            results["postgresql"] = await run_engine(f"postgresql://postgres@127.0.0.1:5432/{name}", calls)
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            await admin.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--quick", action="store_true", help="20 calls per figure: checks the harness only")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    results = asyncio.run(run(20 if args.quick else args.calls, args.engines.split(",")))
    print(f"{'engine':<11} {'call':<44} {'CPU us/call':>12} {'wall us/call':>13}")
    for engine, figures in results.items():
        for call, figure in figures.items():
            print(f"{engine:<11} {call:<44} {figure['cpu_us']:>12.0f} {figure['wall_us']:>13.0f}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
