"""bench.ca_core, bench.crl, bench.inventory, bench.storage_path and bench.dns_lookups in their smallest
runs produce their report fields (harness checks; timings are never asserted)."""

import json
from pathlib import Path

import pytest

from bench import ca_core, crl, dns_lookups, inventory, storage_path


@pytest.mark.parametrize("figure", ["sign_p256", "sign_rsa2048", "pkcs12"])
def test_quick_run_reports_ours_beside_bare(tmp_path: Path, figure: str) -> None:
    out = tmp_path / "ca_core.json"
    assert ca_core.main(["--quick", "--json", str(out)]) == 0
    report = json.loads(out.read_text())[figure]
    assert report["count"] == 5
    assert set(report) == {"count", "ours_per_s", "bare_per_s", "ratio"}
    assert report["ours_per_s"] > 0 and report["bare_per_s"] > 0


def test_crl_bench_builds_the_same_crl_as_the_bare_builder(tmp_path: Path) -> None:
    out = tmp_path / "crl.json"
    assert crl.main(["--sizes", "100", "--json", str(out)]) == 0  # asserts equal TBS bytes inside
    (row,) = json.loads(out.read_text())["pure"]
    assert row["entries"] == 100 and row["bare_build_s"] > 0 and row["ratio"] > 0


def test_crl_bench_partitioned_run_reports_build_time_and_request_latency(tmp_path: Path) -> None:
    out = tmp_path / "crl.json"
    assert crl.main(["--sizes", "200", "--partitions", "4", "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())["partitioned"]
    assert (row["entries"], row["partitions"]) == (200, 4)
    assert row["generate_all_s"] > 0 and row["largest_partition_bytes"] > 0
    assert row["requests"] > 0 and row["request_max_s"] >= row["request_p99_s"] >= row["request_p50_s"] > 0


def test_inventory_quick_run_measures_every_page(tmp_path: Path) -> None:
    out = tmp_path / "inventory.json"
    assert inventory.main(["--quick", "--json", str(out)]) == 0
    (report,) = json.loads(out.read_text())
    assert report["certificates"] == 200
    assert set(report["pages"]) == set(inventory.pages(200, "x"))
    assert all(page["p99_ms"] >= page["p50_ms"] > 0 for page in report["pages"].values())


def test_storage_path_quick_run_measures_each_call_on_both_engines(tmp_path: Path) -> None:
    out = tmp_path / "storage_path.json"
    assert storage_path.main(["--quick", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report) == {"sqlite", "postgresql"}
    for figures in report.values():
        assert len(figures) == 4
        assert all(figure["cpu_us"] > 0 and figure["wall_us"] > 0 for figure in figures.values())


def test_dns_lookups_quick_run_measures_ours_beside_dnspython(tmp_path: Path) -> None:
    out = tmp_path / "dns.json"
    assert dns_lookups.main(["--quick", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert set(figures) == {"ours (dns_wire)", "dnspython resolver"}
    assert all(cpu > 0 for cpu in figures.values())
