"""VA fixtures: a scripted DNS server, loopback HTTP/TLS responders and validators pointed at them.

- `dns_server`      ScriptedDNS on 127.0.0.1:<random> (UDP); script it with add/add_cname/fail/drop.
- `servers`         starts HTTP, silent and TLS-ALPN responders on loopback; all closed after the test.
- `make_validator`  NetworkValidator(ValidationSettings(dns_resolver=dns_server, timeout=2,
                    allow_loopback=True, **overrides)): the responders are on loopback, which the
                    production default blocks; tests of the block list pass allow_loopback=False.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from acme_server.validation import NetworkValidator, ValidationSettings
from tests.validation.responders import (
    ChallengeCertificate,
    HTTPResponder,
    ScriptedDNS,
    server_context,
)


@pytest.fixture
async def dns_server() -> AsyncIterator[ScriptedDNS]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(ScriptedDNS, local_addr=("127.0.0.1", 0))
    protocol.port = transport.get_extra_info("sockname")[1]
    yield protocol
    transport.close()


@dataclass
class Trap:
    """Listens on 127.0.0.1 and ::1 on one port and counts every TCP connection it accepts."""

    port: int
    connections: int = 0


@dataclass
class TLSResponder:
    port: int
    server_names: list[str | None] = field(default_factory=list)


class ServerPool:
    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._servers: list[asyncio.Server] = []
        self._release = asyncio.Event()

    async def _start(self, handler: Any, host: str, port: int = 0, tls: ssl.SSLContext | None = None) -> int:
        server = await asyncio.start_server(handler, host, port, ssl=tls)
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def http(
        self, host: str = "127.0.0.1", *, port: int = 0, tls: ssl.SSLContext | None = None
    ) -> HTTPResponder:
        responder = HTTPResponder()
        responder.port = await self._start(responder.handle, host, port, tls)
        return responder

    async def trap(self) -> Trap:
        trap = Trap(port=0)

        async def count(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            trap.connections += 1
            writer.close()

        trap.port = await self._start(count, "127.0.0.1")
        with contextlib.suppress(OSError):  # no IPv6 loopback on this host: the IPv4 trap still counts
            await self._start(count, "::1", trap.port)
        return trap

    async def silent(self, host: str = "127.0.0.1") -> int:
        """A server that accepts connections and never says anything (for timeouts)."""

        async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await self._release.wait()
            finally:
                writer.close()

        return await self._start(hold, host)

    async def tls(
        self,
        certificate: ChallengeCertificate,
        *,
        host: str = "127.0.0.1",
        alpn: list[str] | None = None,
        expected_sni: str | None = None,
    ) -> TLSResponder:
        """A tls-alpn-01 responder: ALPN ["acme-tls/1"] unless `alpn` says otherwise ([] = none)."""
        responder = TLSResponder(port=0)
        context = server_context(
            certificate,
            self._directory,
            alpn=["acme-tls/1"] if alpn is None else (alpn or None),
            server_names=responder.server_names,
            expected_sni=expected_sni,
        )

        async def close(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()

        responder.port = await self._start(close, host, tls=context)
        return responder

    async def close(self) -> None:
        self._release.set()
        for server in self._servers:
            server.close()
            await server.wait_closed()
        await asyncio.sleep(0.01)  # let held handlers finish closing their writers


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[ServerPool]:
    pool = ServerPool(tmp_path)
    yield pool
    await pool.close()


@pytest.fixture
async def make_validator(dns_server: ScriptedDNS) -> AsyncIterator[Callable[..., NetworkValidator]]:
    made: list[NetworkValidator] = []

    def make(**overrides: Any) -> NetworkValidator:
        options: dict[str, Any] = {
            "dns_resolver": ("127.0.0.1", dns_server.port),
            "timeout": 2.0,
            "allow_loopback": True,
        }
        validator = NetworkValidator(ValidationSettings(**(options | overrides)))
        made.append(validator)
        return validator

    yield make
    for validator in made:
        await validator.aclose()
