"""Test support shared across suites: run real external tools (openssl, keytool) and skip, or fail
under ACME_REQUIRE_TOOLS=1, when one is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed"
        if os.environ.get("ACME_REQUIRE_TOOLS") == "1":
            pytest.fail(message + " (ACME_REQUIRE_TOOLS=1)")
        pytest.skip(message)
    return path


def run(
    *args: str | Path, check: bool = True, input: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure with check=True, fail the test showing its output."""
    result = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        input=input.decode() if input else None,
        text=True,
        timeout=120,
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, args))} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def openssl(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    require_tool("openssl")
    return run("openssl", *args, check=check)


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, str):
        path.write_text(text)
    else:
        path.write_bytes(text)
    return path


def stop_process(process: subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL after 20 s: a server under test never outlives its test."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
