"""The import-linter contracts in pyproject.toml bite: a copy of the real tree passes them, and the same
copy with one deliberately bad import fails the contract named for it (so no contract is vacuous)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("acme_server", "ca_core", "bench")
LINT_IMPORTS = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports with the project's own configuration over the package tree in `tree`."""
    return subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--no-cache", "--config", str(tree / "pyproject.toml")],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def append(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_real_tree_keeps_every_contract(tree: Path) -> None:
    result = lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


# (file to edit relative to the tree, import to add, contract expected BROKEN)
BAD_IMPORTS = [
    pytest.param(
        "acme_server/storage/orders.py",
        "from acme_server.services import runtime",
        "layers: cli > apps > edges > services > storage > ca_core",
        id="storage-imports-services",
    ),
    pytest.param(
        "acme_server/services/acme/orders.py",
        "from acme_server.api import views",
        "layers: cli > apps > edges > services > storage > ca_core",
        id="services-import-an-edge",
    ),
    pytest.param(
        "acme_server/status/crls.py",
        "from acme_server.acme import render",
        "the HTTP edges are independent of each other",
        id="status-imports-acme",
    ),
    pytest.param(
        "acme_server/ui/pages.py",
        "from acme_server.storage import engine",
        "web, CLI and UI layers reach storage and SQL only through services",
        id="ui-imports-storage",
    ),
    pytest.param(
        "acme_server/statuses.py",
        "from acme_server.storage import tables",
        "the statuses are a leaf every layer may use: nothing of acme_server or ca_core, no web or SQL",
        id="statuses-import-storage",
    ),
]


@pytest.mark.parametrize(("module", "bad_import", "contract"), BAD_IMPORTS)
def test_a_bad_import_breaks_its_contract(tree: Path, module: str, bad_import: str, contract: str) -> None:
    append(tree / module, bad_import)
    result = lint(tree)
    assert result.returncode == 1, result.stdout
    assert f"{contract} BROKEN" in " ".join(result.stdout.split())


def test_sql_reached_through_a_helper_outside_services_is_caught(tree: Path) -> None:
    """Indirect imports count: an edge reaching SQL through any module but services fails."""
    (tree / "acme_server" / "leak.py").write_text("import sqlalchemy\n")
    append(tree / "acme_server/acme/links.py", "import acme_server.leak")
    result = lint(tree)
    assert result.returncode == 1, result.stdout
    assert "reach storage and SQL only through services BROKEN" in " ".join(result.stdout.split())
