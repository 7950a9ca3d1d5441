"""An ACME server per test on real HTTPS over loopback, on SQLite and PostgreSQL, with the real VA
pointed at a scripted DNS server and an http-01 responder that the test controls."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from acme_server.app import create_app
from acme_server.config import Settings
from acme_server.services.platform import bootstrap
from acme_server.services.runtime import Runtime
from acme_server.storage import Storage
from ca_core.keyprotect import KeyEncryptionKey
from tests.acme.client import Client
from tests.servers import serving
from tests.validation.responders import (
    HTTPResponder,
    Reply,
    ScriptedDNS,
    acme_identifier_value,
    challenge_certificate,
    server_context,
    unused_port,
)


class TLSALPNResponder:
    """tls-alpn-01 (RFC 8737) on one port for many names: the SNI callback switches to the context
    holding the challenge certificate registered for that name."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.contexts: dict[str, ssl.SSLContext] = {}
        self.port = 0
        placeholder = challenge_certificate([x509.DNSName("placeholder.invalid")], extension_value=None)
        self.context = server_context(placeholder, directory, alpn=["acme-tls/1"], server_names=[])
        self.context.sni_callback = self._select

    def _select(self, connection: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
        if server_name in self.contexts:
            connection.context = self.contexts[server_name]

    def serve(self, name: str, key_authorization: str) -> None:
        certificate = challenge_certificate(
            [x509.DNSName(name)], extension_value=acme_identifier_value(key_authorization)
        )
        self.contexts[name] = server_context(
            certificate, self.directory, alpn=["acme-tls/1"], server_names=[]
        )

    async def handle(self, _: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()


@dataclass
class AcmeServer:
    url: str
    rt: Runtime
    http: httpx.AsyncClient
    dns: ScriptedDNS
    http01: HTTPResponder
    tlsalpn01: TLSALPNResponder

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
def acme_overrides() -> dict[str, object]:
    """Settings a test module changes for its server (override this fixture in the module)."""
    return {}


@asynccontextmanager
async def acme_server(
    storage: Storage, directory: Path, overrides: dict[str, object]
) -> AsyncIterator[AcmeServer]:
    """An ACME server on `storage` with its files in `directory`, until the block ends (the `acme`
    fixture per test; tests/hostile one per module)."""
    loop = asyncio.get_running_loop()
    transport, dns = await loop.create_datagram_endpoint(ScriptedDNS, local_addr=("127.0.0.1", 0))
    dns.port = transport.get_extra_info("sockname")[1]
    http01 = HTTPResponder()
    responder = await asyncio.start_server(http01.handle, "127.0.0.1", 0)
    http01.port = responder.sockets[0].getsockname()[1]
    tlsalpn01 = TLSALPNResponder(directory)
    alpn_server = await asyncio.start_server(tlsalpn01.handle, "127.0.0.1", 0, ssl=tlsalpn01.context)
    tlsalpn01.port = alpn_server.sockets[0].getsockname()[1]
    port = unused_port()
    settings = Settings(
        listen=f"127.0.0.1:{port}",
        data_dir=directory,
        http01_port=http01.port,
        tlsalpn01_port=tlsalpn01.port,
        dns_resolver=f"127.0.0.1:{dns.port}",
        renewal_interval=0,  # no renewal scheduler: its passes would count in the round-trip tests
        validation_allow_loopback=True,  # the responders above are on 127.0.0.1, blocked by default
    )
    settings = dataclasses.replace(settings, **overrides)  # type: ignore[arg-type]
    rt = Runtime(storage=storage, kek=KeyEncryptionKey.generate(), public_url=settings.public_url)
    await bootstrap.ensure_dev_setup(rt)
    tls = await bootstrap.ensure_server_tls(rt, directory / "tls", "127.0.0.1")
    roots = await bootstrap.write_trust_bundle(rt, directory / "root.pem")
    served = serving(
        create_app(settings, runtime=rt), port, ssl_certfile=str(tls.certificate), ssl_keyfile=str(tls.key)
    )
    context = ssl.create_default_context(cafile=str(roots))
    async with served, httpx.AsyncClient(verify=context, timeout=30) as http:
        yield AcmeServer(settings.public_url, rt, http, dns, http01, tlsalpn01)
    responder.close()
    alpn_server.close()
    transport.close()
    with contextlib.suppress(Exception):
        await responder.wait_closed()


@pytest.fixture
async def acme(
    storage: Storage, tmp_path: Path, acme_overrides: dict[str, object]
) -> AsyncIterator[AcmeServer]:
    async with acme_server(storage, tmp_path, acme_overrides) as server:
        yield server


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
