"""Smoke test of the ACME throughput benchmark (bench/acme_throughput.py): three orders per variant
against our server on SQLite, through real processes (server, pebble-challtestsrv, the responder). It
checks that the benchmark works and reports what it measured; it asserts no timing."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from bench.acme_throughput import parse_args, render, run, run_orders
from bench.client import Account
from bench.responder import answer
from tests.tools import require_tool


def test_three_orders_per_variant_against_ours_all_valid_and_reported(tmp_path: Path) -> None:
    require_tool("pebble-challtestsrv")
    args = parse_args(["--targets", "ours-sqlite", "--orders", "3", "--concurrency", "2"])
    info = run(args, tmp_path)

    results = info["results"]
    assert isinstance(results, list)
    assert [(r["target"], r["variant"]) for r in results] == [
        ("ours[sqlite]", "fresh"),
        ("ours[sqlite]", "reuse"),
    ]
    for result in results:
        # ok counts orders whose downloaded chain's leaf names the ordered name
        assert (result["ok"], result["started"], result["errors"]) == (3, 3, 0), result["error_samples"]
        assert result["concurrency"] == 2 and result["stalled_at"] == []
        assert result["orders_per_second"] > 0
        assert 0 < result["p50_ms"] <= result["p99_ms"]
        assert result["server_cpu_ms_per_order"] is not None and result["server_cpu_ms_per_order"] > 0
        assert result["client_cpu_ms_per_order"] is not None and result["client_cpu_ms_per_order"] > 0
    fresh, reuse = results
    assert fresh["reused"] == 0 and fresh["requests_per_order"] >= 6  # order, authz, challenge, ...
    assert reuse["reused"] == 3 and reuse["requests_per_order"] >= 3  # ready at once: no challenge
    assert info["findings"] == []
    no_reference = (None, None)  # Pebble was not measured
    assert info["ratios_to_pebble"] == {
        "ours[sqlite] fresh": no_reference,
        "ours[sqlite] reuse": no_reference,
    }

    report = render(info)
    assert "ours[sqlite]" in report and "cores" in report and "pebble" in report  # versions line


def test_responder_answers_only_challenge_paths_with_the_key_authorization() -> None:
    thumbprint = "T" * 43
    assert answer("GET /.well-known/acme-challenge/abc_-1 HTTP/1.1", thumbprint) == (
        200,
        f"abc_-1.{thumbprint}".encode(),
    )
    assert answer("GET /.well-known/acme-challenge/a.b HTTP/1.1", thumbprint)[0] == 404
    assert answer("GET /.well-known/acme-challenge/ HTTP/1.1", thumbprint)[0] == 404
    assert answer("POST /.well-known/acme-challenge/abc HTTP/1.1", thumbprint)[0] == 404
    assert answer("GET /other HTTP/1.1", thumbprint)[0] == 404
    assert answer("garbage", thumbprint)[0] == 404


async def test_a_server_that_never_answers_is_reported_as_a_stall_not_waited_for() -> None:
    """A loopback server that accepts connections and never answers: the batch stops after the stall
    timeout with every order unfinished, instead of waiting for the HTTP timeout or forever."""
    accepted: list[asyncio.StreamWriter] = []

    async def silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # kept open, never written to

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}/acme"
    try:
        async with httpx.AsyncClient(timeout=60) as http:
            key = ec.generate_private_key(ec.SECP256R1())
            account = Account(http, {"newNonce": url, "newOrder": url}, key, kid=url)
            jobs = [(f"s{i}.bench.example.com", b"csr") for i in range(4)]
            started = time.monotonic()
            batch = await run_orders(account, jobs, concurrency=2, stall_timeout=1.0)
        assert batch.stalled and batch.outcomes == [None] * 4
        assert time.monotonic() - started < 15  # the stall timeout plus cancellation, not the 60 s
        assert len(accepted) == 2  # both workers were waiting on the server
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
