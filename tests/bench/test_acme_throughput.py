"""Tests of the ACME throughput benchmark (bench/acme_throughput.py): its quick mode against our server
on SQLite and Pebble, a few orders per variant unpinned, one PostgreSQL target's database counters,
all through real processes (servers, pebble-challtestsrv, the responder); and its pieces (Retry-After,
pinning, the matrix table) on loopback. They check that the benchmark works and reports what it
measured; they assert no timing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from bench.acme_throughput import (
    LazyJobs,
    Measurement,
    matrix_table,
    parse_args,
    ratios,
    render,
    run,
    run_orders,
)
from bench.client import Account, Http, _poll, retry_after
from bench.procstat import Pinning, group_pids, pin, restored_affinity, rss_bytes
from bench.responder import answer
from tests.tools import require_tool

ONE_EACH = ("newOrder", "authz", "challenge", "finalize", "cert")


def test_quick_mode_issues_against_ours_and_pebble_pinned_and_reports_costs(tmp_path: Path) -> None:
    require_tool("pebble")
    require_tool("pebble-challtestsrv")
    affinity = os.sched_getaffinity(0)
    args = parse_args(["--quick"])
    assert args.pin == (len(affinity) >= 2)
    info = run(args, tmp_path)
    assert os.sched_getaffinity(0) == affinity  # the test process gets its CPUs back

    results = info["results"]
    assert isinstance(results, list)
    assert [(r["target"], r["variant"], r["concurrency"]) for r in results] == [
        ("ours[sqlite]", "fresh", 2),
        ("pebble", "fresh", 2),
    ]
    for result in results:
        assert (result["ok"], result["started"], result["errors"]) == (4, 4, 0), result["error_samples"]
        assert result["pinned"] == args.pin
        assert result["server_cpu_ms_per_order"] > 0 and result["db_cpu_ms_per_order"] == 0
        assert result["total_cpu_ms_per_order"] == result["server_cpu_ms_per_order"]
        assert result["client_cpu_percent"] > 0 and result["helper_cpu_ms_per_order"] >= 0
        kinds = result["requests_by_kind_per_order"]
        assert {kind: kinds[kind] for kind in ONE_EACH} == dict.fromkeys(ONE_EACH, 1.0)
        assert result["polls_per_authorization"] is not None and result["polls_per_authorization"] >= 0
        assert result["transactions_per_order"] is None  # SQLite, and Pebble: nothing to count
    rate, per_cpu = info["ratios_to_pebble"]["ours[sqlite] fresh c=2"]  # type: ignore[index]
    assert rate > 0 and per_cpu > 0
    assert info["settings"]["pinned"] == (  # type: ignore[index]
        {"servers": [min(affinity)], "client": [sorted(affinity)[1]]} if args.pin else None
    )
    assert info["machine"]["usable_cores"] == len(affinity)  # type: ignore[index]  # read before pinning
    report = render(info)
    assert "ours[sqlite]" in report and "cli CPU %" in report and "cores" in report


def test_three_orders_per_variant_unpinned_against_ours_all_valid_and_reported(tmp_path: Path) -> None:
    require_tool("pebble-challtestsrv")
    args = parse_args(["--targets", "ours-sqlite", "--orders", "3", "--concurrency", "2", "--no-pin"])
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
        assert result["concurrency"] == 2 and result["stalled_at"] == [] and not result["pinned"]
        assert result["orders_per_second"] > 0
        assert 0 < result["p50_ms"] <= result["p99_ms"]
        assert result["server_cpu_ms_per_order"] > 0 and result["client_cpu_ms_per_order"] > 0
    fresh, reuse = results
    assert fresh["reused"] == 0 and fresh["requests_per_order"] >= 6  # order, authz, challenge, ...
    assert reuse["reused"] == 3 and reuse["requests_per_order"] >= 3  # ready at once: no challenge
    assert "challenge" not in reuse["requests_by_kind_per_order"]
    assert reuse["polls_per_authorization"] is None  # no authorization was answered
    assert info["findings"] == []
    no_reference = (None, None)  # Pebble was not measured
    assert info["ratios_to_pebble"] == {
        "ours[sqlite] fresh c=2": no_reference,
        "ours[sqlite] reuse c=2": no_reference,
    }


@pytest.mark.postgres
def test_postgresql_target_reports_backend_cpu_and_transactions_per_order(
    tmp_path: Path, _postgres_server: str
) -> None:
    require_tool("pebble-challtestsrv")
    args = parse_args(
        [
            *("--targets", "ours-pg", "--orders", "3", "--concurrency", "2", "--variants", "fresh"),
            "--database",
            _postgres_server,
        ]
    )
    info = run(args, tmp_path)
    results = info["results"]
    assert isinstance(results, list)
    (result,) = results
    assert (result["ok"], result["errors"]) == (3, 0), result["error_samples"]
    assert result["database_backed"] and result["db_cpu_ms_per_order"] > 0
    assert result["total_cpu_ms_per_order"] == pytest.approx(
        result["server_cpu_ms_per_order"] + result["db_cpu_ms_per_order"]
    )
    # every state change is a committed transaction: at least newOrder, challenge, finalize
    assert result["transactions_per_order"] >= 3 and result["rows_written_per_order"] > 0


def test_modes_choose_their_targets_and_concurrency() -> None:
    matrix = parse_args(["--matrix", "--no-pin"])
    assert [s.name for s in matrix.specs] == [
        "pebble",
        "ours-sqlite",
        "ours-sqlite-2w",
        "ours-pg",
        "ours-pg-2w",
    ]
    assert matrix.matrix_concurrency == [1, 16, 64, 256] and matrix.variants == ["fresh"]
    soak = parse_args(["--soak", "2", "--no-pin"])
    assert [s.name for s in soak.specs] == ["ours-sqlite"] and soak.concurrency == 64
    quick = parse_args(["--quick", "--no-pin"])
    assert [s.name for s in quick.specs] == ["ours-sqlite", "pebble"] and quick.orders == 4
    default = parse_args(["--no-pin"])
    assert "ours-sqlite-2w" not in [s.name for s in default.specs] and default.honour_retry_after
    assert not parse_args(["--no-honour-retry-after", "--no-pin"]).honour_retry_after


def test_matrix_table_compares_each_cell_with_pebble_at_the_same_concurrency() -> None:
    def cell(target: str, concurrency: int, rate: float) -> Measurement:
        measured = Measurement(target, "fresh", concurrency, 10, ok=10, started=10)
        measured.orders_per_second, measured.total_cpu_ms_per_order = rate, 10.0
        measured.client_cpu_percent, measured.p99_ms = 40.0, 123.4
        return measured

    results = [cell("pebble", 1, 10.0), cell("pebble", 16, 40.0), cell("ours[sqlite]", 16, 20.0)]
    assert ratios(results)["ours[sqlite]", "fresh", 16] == (0.5, 1.0)
    lines = matrix_table(results).splitlines()
    assert lines[0].split()[:3] == ["server", "c", "orders/s"]
    assert lines[3].split()[:5] == ["ours[sqlite]", "16", "20.0", "0.50", "123"]


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after("3") == 3.0
    assert retry_after(None) is None and retry_after("soon") is None
    assert retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0


async def test_polls_wait_as_retry_after_says_unless_told_not_to() -> None:
    """A loopback server answering every POST `processing` with Retry-After: 1 twice, then `valid`:
    honoured, the two waits take two seconds; not honoured, the fixed schedule's 15 ms."""
    answered = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while head := await reader.readuntil(b"\r\n\r\n"):
                await respond(head, reader, writer)

    async def respond(head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answered
        lines = head.lower().split(b"\r\n")
        length = next((int(h.split(b":")[1]) for h in lines if h.startswith(b"content-length")), 0)
        await reader.readexactly(length)
        answered += 1
        body = b'{"status": "valid"}' if answered % 3 == 0 else b'{"status": "processing"}'
        writer.write(
            b"HTTP/1.1 200 OK\r\nReplay-Nonce: n\r\nRetry-After: 1\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/order"
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        async with Http(None, connections=2, timeout=10) as http:
            elapsed = {}
            for honour in (True, False):
                account = Account(
                    http, {"newNonce": url}, key, kid=url, nonces=["n"], honour_retry_after=honour
                )
                started = time.monotonic()
                document = await _poll(account, "order", url, frozenset({"valid"}), "poll_valid")
                elapsed[honour] = time.monotonic() - started
                assert document["status"] == "valid" and account.counts["poll_valid"] == 3
    finally:
        server.close()
    assert elapsed[True] >= 2.0 and elapsed[False] < 1.0


def test_pinning_moves_every_thread_and_gives_the_cpus_back() -> None:
    affinity = os.sched_getaffinity(0)
    assert Pinning.default([0]) is None
    assert Pinning.default([3, 1]) == Pinning(frozenset({1}), frozenset({3}))
    with restored_affinity():
        assert pin([os.getpid()], {min(affinity)}) >= 1
        assert os.sched_getaffinity(0) == {min(affinity)}
    assert os.sched_getaffinity(0) == affinity
    assert os.getpid() in group_pids(os.getpgid(0)) and rss_bytes([os.getpid()]) > 0


def test_lazy_jobs_make_a_csr_for_each_name_when_taken() -> None:
    jobs = LazyJobs(5, keys=2)
    name, csr = jobs[4]
    assert len(jobs) == 5 and name == jobs.name(4) and csr[:1] == b"\x30"  # DER SEQUENCE
    with pytest.raises(IndexError):
        jobs[5]


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
        async with Http(None, connections=4, timeout=60) as http:
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
