"""cert-manager's ACME client: conformance/gocm/main.go on golang.org/x/crypto/acme, built once per
session from the Debian source package (GOPATH mode, nothing fetched), run once per scenario."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.servers import EAB, Target
from conformance.tools import missing, require_tool

SOURCE = Path(__file__).parent.parent / "gocm"
GOPATH = Path("/usr/share/gocode")
ACME_PACKAGE = GOPATH / "src/golang.org/x/crypto/acme"
TIMEOUT = 120


def build(out_dir: Path) -> Path:
    """Compile the program into out_dir (never into the repository)."""
    go = require_tool("go")
    if not ACME_PACKAGE.is_dir():
        missing(f"{ACME_PACKAGE} is missing (Debian package golang-golang-x-crypto-dev)")
    binary = out_dir / "gocm"
    env = dict(os.environ)
    env.update(
        GO111MODULE="off",
        GOPATH=f"{GOPATH}:{out_dir / 'gopath'}",
        GOFLAGS="",
        CGO_ENABLED="0",
    )
    if "HOME" not in env:
        env["GOCACHE"] = str(out_dir / "gocache")
    done = subprocess.run(
        [go, "build", "-o", str(binary), "."],
        cwd=SOURCE,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"go build of {SOURCE} failed:\n{done.stderr}")
    return binary


@dataclass
class GoCertManager:
    binary: Path
    target: Target
    out_dir: Path

    def run(
        self,
        names: list[str],
        *,
        challenge: str,
        responder: str,
        eab: EAB | None = None,
        revoke: bool = False,
    ) -> dict[str, Any]:
        """Run the sequence; return the steps it reported, by name ("authorization": a list of them)."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            str(self.binary),
            "-directory",
            self.target.directory_url,
            "-ca-bundle",
            str(self.target.trust_bundle),
            "-domains",
            ",".join(names),
            "-challenge",
            challenge,
            "-responder",
            responder,
            "-out",
            str(self.out_dir),
            "-timeout",
            f"{TIMEOUT - 10}s",
        ]
        if eab is not None:
            argv += [f"-eab-kid={eab.kid}", f"-eab-hmac={eab.hmac_key}"]  # the key may start with "-"
        if revoke:
            argv.append("-revoke")
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False)
        steps: dict[str, Any] = {"authorization": []}
        for line in done.stdout.splitlines():
            step = json.loads(line)
            if step["step"] == "authorization":
                steps["authorization"].append(step)
            else:
                steps[step["step"]] = step
        if done.returncode != 0:
            raise AssertionError(f"gocm exited {done.returncode}: {done.stdout}\n{done.stderr}")
        return steps
