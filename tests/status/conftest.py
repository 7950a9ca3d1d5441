"""A running server for status tests, on SQLite and PostgreSQL: the main app over HTTPS and the status
endpoints over plain HTTP on loopback — either the main server's own status listener ("embedded") or
a separate `acme-server status-server` process on the same database ("sidecar"). Certificates name
whichever serves them in their CRL distribution point and AIA OCSP URL."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from acme_server.app import create_app
from acme_server.config import Settings
from acme_server.services import issuance
from acme_server.services.config import cas
from acme_server.services.inventory.certificates import CertificateInfo
from acme_server.services.issuance import ManagedRequest
from acme_server.services.platform import bootstrap
from acme_server.services.runtime import Runtime
from acme_server.services.status import crls
from acme_server.sidecar import create_status_app
from acme_server.storage import Storage
from ca_core.keyprotect import KeyEncryptionKey
from ca_core.request import Subject, SubjectAltNames
from tests.servers import serving
from tests.tools import stop_process, write
from tests.validation.responders import unused_port


class Sidecar:
    """`acme-server status-server` as its own process."""

    def __init__(self, database_url: str, kek: KeyEncryptionKey, port: int, *extra: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ACME_SERVER")}
        env["ACME_SERVER_KEK"] = kek.to_text()
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "acme_server.cli", "status-server",
                "--listen", f"127.0.0.1:{port}", "--database-url", database_url, *extra,
            ],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.process.stdout.read() if self.process.stdout else ""
                pytest.fail(f"status-server exited {self.process.returncode}:\n{output}")
            try:
                httpx.get(self.url + "/healthz", timeout=2)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        pytest.fail("status-server did not answer within 60 s")

    def stop(self) -> None:
        stop_process(self.process)
        if self.process.stdout:
            self.process.stdout.close()


@dataclass
class StatusStack:
    rt: Runtime
    main_url: str  # HTTPS: ACME and the same status paths
    status_url: str  # plain HTTP: what certificates name
    http: httpx.AsyncClient  # trusts the dev root, for the HTTPS main server
    root_pem: Path
    tmp_path: Path
    mode: str  # "embedded" | "sidecar"

    async def issue(self, name: str = "web.example.internal") -> CertificateInfo:
        return await issuance.issue_certificate(
            self.rt,
            profile="default",
            managed=ManagedRequest(Subject(common_name=name), SubjectAltNames(dns=(name,))),
        )

    async def files(self, info: CertificateInfo) -> tuple[Path, Path, Path]:
        """cert.pem, issuer.pem (the issuing CA) and chain.pem (issuing CA + root)."""
        chain = x509.load_pem_x509_certificates(info.chain_pem.encode())
        cert = write(self.tmp_path / "cert.pem", info.certificate_pem)
        issuer = write(self.tmp_path / "issuer.pem", chain[0].public_bytes(Encoding.PEM))
        bundle = write(self.tmp_path / "chain.pem", info.chain_pem)
        return cert, issuer, bundle


@pytest.fixture(params=["embedded", "sidecar"])
def status_mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sidecar_port() -> Iterator[int]:
    yield unused_port()


@pytest.fixture
async def stack(
    storage: Storage, database_url: str, tmp_path: Path, status_mode: str, sidecar_port: int
) -> AsyncIterator[StatusStack]:
    port, status_port = unused_port(), unused_port()
    kek = KeyEncryptionKey.generate()
    status_url = f"http://127.0.0.1:{sidecar_port if status_mode == 'sidecar' else status_port}"
    settings = Settings(
        listen=f"127.0.0.1:{port}",
        data_dir=tmp_path,
        status_listen=f"127.0.0.1:{status_port}",
        status_url=status_url,
        renewal_interval=0,  # no auto-renewal passes: these tests issue and revoke by hand
    )
    rt = Runtime(storage=storage, kek=kek, public_url=settings.public_url, status_url=status_url)
    await bootstrap.ensure_dev_setup(rt)
    tls = await bootstrap.ensure_server_tls(rt, tmp_path / "tls", "127.0.0.1")
    roots = await bootstrap.write_trust_bundle(rt, tmp_path / "root.pem")
    main = serving(
        create_app(settings, runtime=rt), port, ssl_certfile=str(tls.certificate), ssl_keyfile=str(tls.key)
    )
    status = serving(create_status_app(settings, runtime=rt, read_only=False), status_port)
    trusted = ssl.create_default_context(cafile=str(roots))
    async with main, status, httpx.AsyncClient(verify=trusted, timeout=30) as http:
        # The main server's CRL updater publishes every CA's first CRL at start; the sidecar serves those.
        for ca in ("dev-root", "dev-intermediate"):
            await _wait_published(rt, ca)
        sidecar = Sidecar(database_url, kek, sidecar_port) if status_mode == "sidecar" else None
        try:
            yield StatusStack(rt, settings.public_url, status_url, http, roots, tmp_path, status_mode)
        finally:
            if sidecar is not None:
                await asyncio.to_thread(sidecar.stop)


async def _wait_published(rt: Runtime, ca: str) -> None:
    ca_id = (await cas.get_ca(rt, ca)).id
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if await crls.list_crls(rt, ca_id):
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"the CRL updater published no CRL of {ca} within 20 s")
