"""Test support for tests/hsm: a SoftHSM2 token initialised in the test's own directory (SOFTHSM2_CONF
points there), and `acme-server` run as a real child process against it (each process loads the module
and logs in itself, as a restarted server does)."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from acme_server.hsm.pkcs11 import SOFTHSM2_MODULE
from tests.tools import openssl, require_tool, run, stop_process

PIN = "4321-user"
SO_PIN = "8765-officer"
TOKEN = "acme-ca"


class SoftToken:
    """One initialised SoftHSM2 token; `env` is the environment a child process needs to use it."""

    def __init__(self, directory: Path, label: str = TOKEN) -> None:
        require_tool("softhsm2-util")
        if not Path(SOFTHSM2_MODULE).exists():
            message = f"{SOFTHSM2_MODULE} is missing"
            if os.environ.get("ACME_REQUIRE_TOOLS") == "1":
                pytest.fail(message + " (ACME_REQUIRE_TOOLS=1)")
            pytest.skip(message)
        tokens = directory / "tokens"
        tokens.mkdir(parents=True)
        self.conf = directory / "softhsm2.conf"
        self.conf.write_text(
            f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
        )
        self.label = label
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("ACME_SERVER", "ACME_PKCS11", "SOFTHSM"))
        }
        self.env["SOFTHSM2_CONF"] = str(self.conf)
        self.softhsm("--init-token", "--free", "--label", label, "--so-pin", SO_PIN, "--pin", PIN)

    def softhsm(self, *args: str) -> str:
        return run("env", f"SOFTHSM2_CONF={self.conf}", "softhsm2-util", *args).stdout

    def with_pin(self, pin: str = PIN) -> dict[str, str]:
        return {**self.env, "ACME_PKCS11_PIN": pin}

    def private_keys(self) -> dict[str, tuple[bool, bool]]:
        """label -> (sensitive, extractable) of every private key in the token, read by a child
        process of its own (the module is loaded once per process, with this token's SOFTHSM2_CONF)."""
        result = subprocess.run(
            [sys.executable, "-c", _LIST_KEYS, SOFTHSM2_MODULE, self.label, PIN],
            capture_output=True, text=True, env=self.env, timeout=60, check=True,
        )  # fmt: skip
        return {
            label: (sensitive, extractable) for label, sensitive, extractable in json.loads(result.stdout)
        }


_LIST_KEYS = """
import json, sys
import pkcs11
from pkcs11 import Attribute, ObjectClass
token = pkcs11.lib(sys.argv[1]).get_token(token_label=sys.argv[2])
with token.open(user_pin=sys.argv[3]) as session:
    keys = session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})
    print(json.dumps([[k.label, bool(k[Attribute.SENSITIVE]), bool(k[Attribute.EXTRACTABLE])] for k in keys]))
"""


def acme_server(
    env: dict[str, str], data_dir: Path, *args: str, expect: int = 0, database: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`acme-server ARGS --data-dir DIR` in a child process; fails the test unless it exits `expect`."""
    options = ["--data-dir", str(data_dir), *(["--database", database] if database else [])]
    result = subprocess.run(
        [sys.executable, "-m", "acme_server.cli", *args[:2], *options, *args[2:]],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert result.returncode == expect, f"exit {result.returncode}: {result.stdout}{result.stderr}"
    return result


def acme_json(env: dict[str, str], data_dir: Path, *args: str, database: str | None = None) -> Any:
    return json.loads(acme_server(env, data_dir, *args, "--json", database=database).stdout)


class Server:
    """`acme-server serve` in a child process on free loopback ports, ready when /healthz answers."""

    def __init__(self, env: dict[str, str], data_dir: Path, port: int, status_port: int, *extra: str) -> None:
        self.url = f"https://127.0.0.1:{port}"
        self.status_url = f"http://127.0.0.1:{status_port}"
        self.data_dir = data_dir
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "acme_server.cli", "serve",
                "--data-dir", str(data_dir),
                "--listen", f"127.0.0.1:{port}",
                "--status-listen", f"127.0.0.1:{status_port}",
                "--renewal-interval", "0",
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                assert self.process.stdout is not None
                pytest.fail(f"server exited {self.process.returncode}:\n{self.process.stdout.read()}")
            try:
                httpx.get(
                    self.url + "/healthz",
                    verify=ssl.create_default_context(cafile=str(data_dir / "root.pem")),
                    timeout=2,
                )
                return
            except (httpx.TransportError, OSError):
                time.sleep(0.2)
        self.stop()
        pytest.fail("server did not answer /healthz within 90 s")

    def stop(self) -> None:
        stop_process(self.process)


def create_ca(
    env: dict[str, str], data_dir: Path, name: str, uri: str, *extra: str, database: str | None = None
) -> Any:
    """`ca create-intermediate NAME --pkcs11-uri URI EXTRA` (with --parent in EXTRA), else create-root."""
    command = "create-intermediate" if "--parent" in extra else "create-root"
    return acme_json(env, data_dir, "ca", command, name, "--pkcs11-uri", uri, *extra, database=database)


def refused(env: dict[str, str], data_dir: Path, *args: str, expect: int = 1) -> str:
    """The one `error:` line of a command that must fail (exit 1 by default)."""
    lines = acme_server(env, data_dir, *args, expect=expect).stderr.splitlines()
    assert lines and lines[-1].startswith("error: "), lines
    if expect == 1:
        assert len(lines) == 1, lines
    return lines[-1]


def chain_verifies(root: Path, chain: Path, certificate: Path) -> bool:
    result = openssl("verify", "-CAfile", root, "-untrusted", chain, certificate, check=False)
    return result.returncode == 0 and result.stdout.strip().endswith(": OK")


def revoked_by_crl(bundle: Path, crl: Path, certificate: Path) -> bool:
    """openssl verify -crl_check with the CA certificates in `bundle` says the certificate is revoked."""
    result = openssl("verify", "-crl_check", "-CAfile", bundle, "-CRLfile", crl, certificate, check=False)
    return "certificate revoked" in result.stdout + result.stderr


def api_client(server: Server, secret: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url,
        verify=ssl.create_default_context(cafile=str(server.data_dir / "root.pem")),
        headers={"Authorization": f"Bearer {secret}"},
    )
