"""bench.ca_core --quick produces its report fields (harness check; timings are never asserted)."""

import json
from pathlib import Path

from bench import ca_core


def test_quick_run_writes_pkcs12_report(tmp_path: Path) -> None:
    out = tmp_path / "ca_core.json"
    assert ca_core.main(["--quick", "--json", str(out)]) == 0
    report = json.loads(out.read_text())["pkcs12"]
    assert report["count"] == 5
    assert set(report) == {"count", "ours_per_s", "bare_per_s", "ratio"}
    assert report["ours_per_s"] > 0 and report["bare_per_s"] > 0
