"""External tools the scenarios drive. A missing tool skips its scenarios, or fails them when
ACME_REQUIRE_TOOLS=1 (as CI sets it), so a green run can never hide a client that did not run."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REQUIRE_TOOLS = "ACME_REQUIRE_TOOLS"


def missing(message: str) -> None:
    """Skip, or fail under ACME_REQUIRE_TOOLS=1."""
    if os.environ.get(REQUIRE_TOOLS) == "1":
        pytest.fail(f"{message} ({REQUIRE_TOOLS}=1)", pytrace=False)
    pytest.skip(message)


def require_tool(name: str) -> str:
    """The tool's path: this interpreter's bin directory first (certbot comes from the venv), then PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        missing(f"{name} is not installed")
        raise AssertionError("unreachable")  # missing() always raises
    return found
