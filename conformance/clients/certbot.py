"""certbot (from PyPI) as a subprocess: its own config, work and logs directories in tmp, the target's
trust bundle through REQUESTS_CA_BUNDLE, hooks that script pebble-challtestsrv."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from conformance.servers import ChallTestSrv, Target
from conformance.tools import require_tool

HOOK = Path(__file__).with_name("dns_hook.py")
TIMEOUT = 180


@functools.cache
def help_all(binary: str) -> str:
    return subprocess.run(
        [binary, "--help", "all"], capture_output=True, text=True, timeout=60, check=False
    ).stdout


@dataclass
class Certbot:
    target: Target
    home: Path
    dns: ChallTestSrv

    def __post_init__(self) -> None:
        self.binary = require_tool("certbot")

    def has_flag(self, flag: str) -> bool:
        return flag in help_all(self.binary)

    @property
    def config_dir(self) -> Path:
        return self.home / "config"

    def live(self, cert_name: str, file: str = "fullchain.pem") -> Path:
        return self.config_dir / "live" / cert_name / file

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [
            self.binary,
            *args,
            "--config-dir",
            str(self.config_dir),
            "--work-dir",
            str(self.home / "work"),
            "--logs-dir",
            str(self.home / "logs"),
            "--server",
            self.target.directory_url,
            "--non-interactive",
        ]
        env = dict(os.environ)
        env.update(
            REQUESTS_CA_BUNDLE=str(self.target.trust_bundle),
            CONFORMANCE_CHALLTESTSRV=self.dns.management_url,
        )
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, env=env, check=False)
        if check and done.returncode != 0:
            raise AssertionError(
                f"certbot {args[0]} exited {done.returncode}\n{done.stdout}\n{done.stderr}\n{self.log_tail()}"
            )
        return done

    def log_tail(self, lines: int = 40) -> str:
        log = self.home / "logs" / "letsencrypt.log"
        if not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def register(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.run("register", "--agree-tos", "-m", "conformance@example.com", *extra)

    def certonly_standalone(self, cert_name: str, *names: str, extra: tuple[str, ...] = ()) -> None:
        """certbot's own HTTP-01 server on the target's validation port, loopback only (RFC 8555 §8.3)."""
        self.run(
            "certonly",
            "--standalone",
            "--preferred-challenges",
            "http",
            "--http-01-port",
            str(self.target.http01_port),
            "--http-01-address",
            "127.0.0.1",
            "--agree-tos",
            "--register-unsafely-without-email",
            "--cert-name",
            cert_name,
            *(arg for name in names for arg in ("-d", name)),
            *extra,
        )

    def certonly_dns(self, cert_name: str, *names: str) -> None:
        """--manual dns-01 with hooks that set and clear TXT records (RFC 8555 §8.4)."""
        hook = f"{sys.executable} {HOOK}"
        self.run(
            "certonly",
            "--manual",
            "--preferred-challenges",
            "dns",
            "--manual-auth-hook",
            f"{hook} certbot-auth",
            "--manual-cleanup-hook",
            f"{hook} certbot-cleanup",
            "--agree-tos",
            "--register-unsafely-without-email",
            "--cert-name",
            cert_name,
            *(arg for name in names for arg in ("-d", name)),
        )
