"""The short variant of the fault-injection bench (bench/fault_injection.py) that CI runs: three
SIGKILLs of a real `acme-server serve` under the benchmark's load (one at a random moment, one with a
finalize in flight, one just after a revocation was committed), each followed by a restart on the same
database, on SQLite and PostgreSQL; then every invariant is checked in the database and the served CRL.
No timing is asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.fault_injection import MOMENTS, Check, Kill, Report, parse_args, render, run
from tests.tools import require_tool

INVARIANTS = [
    "no order stays processing",
    "pending validations resume",
    "each order seen valid has exactly one certificate",
    "no certificate lacks its order",
    "no serial repeats",
    "every revocation is in the CRL",
    "every revocation made before a kill is in the next CRL",
]


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_three_sigkills_under_load_break_no_invariant(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    require_tool("pebble-challtestsrv")
    argv = ["--engine", engine, "--kills", "3", "--concurrency", "4", "--seed", "7"]
    if engine == "postgres":
        argv += ["--database", request.getfixturevalue("_postgres_server")]
    report = run(parse_args(argv), tmp_path)

    assert [check.name for check in report.checks] == INVARIANTS
    assert [check for check in report.checks if not check.ok] == [], render(report)
    assert report.ok and "every invariant held" in render(report)
    # One kill per moment; a moment that did not come within 10 s of load falls back to a random one.
    assert [kill.number for kill in report.kills] == [1, 2, 3]
    for kill, moment in zip(report.kills, MOMENTS, strict=True):
        assert kill.moment in (moment, f"random (no {moment} came)")
    assert all(kill.restart_seconds > 0 and kill.crl_seconds is not None for kill in report.kills)
    # The clients rode out every outage and did real work on both sides of each kill.
    assert report.clients["orders seen valid"] > 0 and report.clients["retried requests"] > 0
    assert report.clients.get("orders given up", 0) == 0
    assert report.database["ACME certificates"] >= report.clients["orders seen valid"]
    assert report.database["revocations"] >= report.clients["revocations acknowledged"] > 0


@pytest.mark.postgres
def test_killing_one_of_two_replicas_at_a_time_breaks_no_invariant(
    tmp_path: Path, _postgres_server: str
) -> None:
    """--replicas 2: the clients reach both replicas through the balancer; each kill takes one, whose
    work (a processing order, an unpublished revocation) the restart or the other replica finishes."""
    require_tool("pebble-challtestsrv")
    argv = ["--engine", "postgres", "--replicas", "2", "--kills", "2", "--concurrency", "4", "--seed", "7"]
    report = run(parse_args([*argv, "--database", _postgres_server]), tmp_path)
    assert [check.name for check in report.checks] == INVARIANTS
    assert [check for check in report.checks if not check.ok] == [], render(report)
    assert report.engine == "postgres, 2 replicas" and len(report.kills) == 2
    assert all("(replica " in kill.moment for kill in report.kills)
    assert report.clients["orders seen valid"] > 0 and report.clients.get("orders given up", 0) == 0


def test_a_failed_invariant_is_reported_and_fails_the_run() -> None:
    report = Report("sqlite", kills=[Kill(1, "finalize", 1.0, 1, 0, 0, 0, 2.0, None)])
    report.checks = [
        Check("no serial repeats", True, "all serials distinct"),
        Check("no order stays processing", False, "1 failed", ["1 order(s) processing"]),
    ]
    shown = render(report)
    assert not report.ok
    assert "FAIL no order stays processing: 1 failed" in shown and "1 order(s) processing" in shown
    assert shown.endswith("result: AN INVARIANT FAILED")
    assert not Report("sqlite").ok  # no check made: not a pass


def test_options_are_checked() -> None:
    args = parse_args([])
    assert (args.engine, args.kills, args.concurrency) == ("sqlite", 20, 8) and args.seed is not None
    with pytest.raises(SystemExit):
        parse_args(["--kills", "0"])
    with pytest.raises(SystemExit):
        parse_args(["--min-gap", "5", "--max-gap", "1"])
    with pytest.raises(SystemExit):
        parse_args(["--replicas", "2"])  # replicas share a PostgreSQL database, not SQLite
