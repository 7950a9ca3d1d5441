"""lego (Debian) as a subprocess: --path in tmp, the target's trust bundle through LEGO_CA_CERTIFICATES,
its own HTTP-01 and TLS-ALPN-01 servers on the target's validation ports, dns-01 through the exec
provider calling pebble-challtestsrv."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from conformance.clients.certbot import HOOK
from conformance.servers import ChallTestSrv, Target
from conformance.tools import require_tool

TIMEOUT = 180


@dataclass
class Lego:
    target: Target
    home: Path
    dns: ChallTestSrv

    def __post_init__(self) -> None:
        self.binary = require_tool("lego")
        # EXEC_PATH names one program; this wrapper runs the hook with our interpreter.
        self.exec_hook = self.home / "dns-exec-hook"
        self.home.mkdir(parents=True, exist_ok=True)
        self.exec_hook.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{HOOK}" lego "$@"\n')
        self.exec_hook.chmod(0o755)

    def certificate(self, name: str) -> Path:
        """lego names files after the first domain, '*' written as '_'."""
        return self.home / "certificates" / (name.replace("*", "_") + ".crt")

    def http01(self) -> list[str]:
        return ["--http", "--http.port", f"127.0.0.1:{self.target.http01_port}"]

    def tlsalpn01(self) -> list[str]:
        return ["--tls", "--tls.port", f"127.0.0.1:{self.target.tlsalpn01_port}"]

    def dns01(self) -> list[str]:
        # --dns.disable-cp: check the TXT record at the resolver only, not at authoritative servers
        # (there are none on loopback).
        return ["--dns", "exec", "--dns.resolvers", self.dns.dns_address, "--dns.disable-cp"]

    def run(self, names: list[str], challenge: list[str], *command: str, check: bool = True) -> str:
        argv = [
            self.binary,
            "--server",
            self.target.directory_url,
            "--path",
            str(self.home),
            "--accept-tos",
            "--email",
            "conformance@example.com",
            *(arg for name in names for arg in ("--domains", name)),
            *challenge,
            *command,
        ]
        env = dict(os.environ)
        env.update(
            LEGO_CA_CERTIFICATES=str(self.target.trust_bundle),
            CONFORMANCE_CHALLTESTSRV=self.dns.management_url,
            EXEC_PATH=str(self.exec_hook),
            EXEC_PROPAGATION_TIMEOUT="30",
            EXEC_POLLING_INTERVAL="1",
            EXEC_SEQUENCE_INTERVAL="1",
        )
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, env=env, check=False)
        output = done.stdout + done.stderr
        if check and done.returncode != 0:
            raise AssertionError(f"lego {' '.join(command)} exited {done.returncode}\n{output}")
        return output
