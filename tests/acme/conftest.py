"""An ACME server per test on real HTTPS over loopback, on SQLite and PostgreSQL, with the real VA
pointed at a scripted DNS server and an http-01 responder that the test controls."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from acme_server.app import create_app
from acme_server.config import Settings
from acme_server.services import bootstrap
from acme_server.services.runtime import Runtime
from acme_server.storage import Storage
from ca_core.keyprotect import KeyEncryptionKey
from tests.acme.client import Client
from tests.validation.responders import HTTPResponder, Reply, ScriptedDNS, unused_port


@dataclass
class AcmeServer:
    url: str
    rt: Runtime
    http: httpx.AsyncClient
    dns: ScriptedDNS
    http01: HTTPResponder

    @property
    def directory_url(self) -> str:
        return f"{self.url}/acme/directory"

    async def client(self, **kwargs: object) -> Client:
        return await Client(self.http, self.directory_url, **kwargs).load()  # type: ignore[arg-type]

    def serve_http01(self, client: Client, token: str) -> None:
        self.http01.routes[f"/.well-known/acme-challenge/{token}"] = Reply(
            200, client.key_authorization(token).encode()
        )

    def resolve(self, name: str) -> None:
        self.dns.add(name, "A", "127.0.0.1")


@pytest.fixture
async def acme(storage: Storage, tmp_path: Path) -> AsyncIterator[AcmeServer]:
    loop = asyncio.get_running_loop()
    transport, dns = await loop.create_datagram_endpoint(ScriptedDNS, local_addr=("127.0.0.1", 0))
    dns.port = transport.get_extra_info("sockname")[1]
    http01 = HTTPResponder()
    responder = await asyncio.start_server(http01.handle, "127.0.0.1", 0)
    http01.port = responder.sockets[0].getsockname()[1]
    port = unused_port()
    settings = Settings(
        listen=f"127.0.0.1:{port}",
        data_dir=tmp_path,
        http01_port=http01.port,
        dns_resolver=f"127.0.0.1:{dns.port}",
    )
    rt = Runtime(storage=storage, kek=KeyEncryptionKey.generate(), public_url=settings.public_url)
    await bootstrap.ensure_dev_setup(rt)
    tls = await bootstrap.ensure_server_tls(rt, tmp_path / "tls", "127.0.0.1")
    roots = await bootstrap.write_trust_bundle(rt, tmp_path / "root.pem")
    config = uvicorn.Config(
        create_app(settings, runtime=rt),
        host="127.0.0.1",
        port=port,
        ssl_certfile=str(tls.certificate),
        ssl_keyfile=str(tls.key),
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(roots)), timeout=30) as http:
        yield AcmeServer(settings.public_url, rt, http, dns, http01)
    server.should_exit = True
    await task
    responder.close()
    transport.close()
    with contextlib.suppress(Exception):
        await responder.wait_closed()


async def wait_status(
    client: Client, url: str, wanted: set[str], *, timeout: float = 20
) -> dict[str, object]:
    """Poll a resource with POST-as-GET until its status is one of `wanted`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        body = (await client.post(url)).json()
        if body.get("status") in wanted or asyncio.get_running_loop().time() > deadline:
            return dict(body)
        await asyncio.sleep(0.05)
