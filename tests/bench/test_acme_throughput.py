"""Smoke test of the ACME throughput benchmark (bench/acme_throughput.py): three orders per variant
against our server on SQLite, through real processes (server, pebble-challtestsrv, the responder). It
checks that the benchmark works and reports what it measured; it asserts no timing."""

from __future__ import annotations

from pathlib import Path

from bench.acme_throughput import parse_args, render, run
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
