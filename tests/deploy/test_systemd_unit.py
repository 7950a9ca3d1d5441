"""deploy/acme-server.service: `systemd-analyze verify` accepts it without a warning (an unknown or
misspelt directive is only a warning there, so any output fails), its ExecStart really starts our
console script, and the hardening the docs promise is in it."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from tests.tools import require_tool, run

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "acme-server.service"
INSTALLED = "/usr/local/bin/acme-server"


def _directives() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


def test_systemd_analyze_verify_accepts_the_unit_without_a_warning(tmp_path: Path) -> None:
    require_tool("systemd-analyze")
    # verify checks that ExecStart is executable: point it at this checkout's console script.
    script = shutil.which("acme-server") or str(Path(sys.executable).parent / "acme-server")
    unit = tmp_path / "acme-server.service"
    unit.write_text(UNIT.read_text().replace(INSTALLED, script))
    result = run("systemd-analyze", "verify", unit, check=False)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_the_unit_runs_serve_as_a_dynamic_user_with_a_read_only_system() -> None:
    directives = _directives()
    assert directives["ExecStart"][0].startswith(f"{INSTALLED} serve ")
    for key, value in {
        "DynamicUser": "yes",
        "StateDirectory": "acme-server",
        "ProtectSystem": "strict",
        "NoNewPrivileges": "yes",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
    }.items():
        assert directives[key] == [value], key
    assert "--data-dir /var/lib/acme-server" in directives["ExecStart"][0]  # = StateDirectory
