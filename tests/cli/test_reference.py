"""docs/cli.md is generated from the parser; it must match the CLI as built."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from acme_server.cli.reference import render


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="argparse help layout differs between Pythons")
def test_cli_reference_is_current() -> None:
    current = (Path(__file__).parents[2] / "docs" / "cli.md").read_text()
    assert current == render(), "regenerate: python -m acme_server.cli.reference > docs/cli.md"
