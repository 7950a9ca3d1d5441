"""Real HTTPS servers on loopback for the sync destinations that POST somewhere (tests/services,
tests/api): http.server with ssl in a thread, each request recorded, its answers scripted. Their
certificates are issued by the test's own dev CA (bootstrap.ensure_server_tls), so a client trusts
them through the dev root, never by turning verification off."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from acme_server.services.platform import bootstrap
from acme_server.services.runtime import Runtime
from tests.tools import openssl


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Exchange:
    """What a handler answers: status, headers, body."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Received], Exchange]


@dataclass
class Receiver:
    url: str
    received: list[Received] = field(default_factory=list)


async def server_tls(rt: Runtime, directory: Path) -> ssl.SSLContext:
    """A TLS server context with a certificate for 127.0.0.1 from `rt`'s dev CA."""
    files = await bootstrap.ensure_server_tls(rt, directory, "127.0.0.1")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.certificate, files.key)
    return context


def self_signed_tls(directory: Path) -> tuple[ssl.SSLContext, str]:
    """A TLS server context with a self-signed certificate for 127.0.0.1 (openssl), and that
    certificate's PEM for the client to trust: for a server without the dev CA."""
    directory.mkdir(parents=True, exist_ok=True)
    certificate, key = directory / "self-signed.pem", directory / "self-signed.key"
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        "-keyout", key, "-out", certificate,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    return context, certificate.read_text()


@contextmanager
def https_server(context: ssl.SSLContext, handle: Handler) -> Iterator[Receiver]:
    """Serve `handle` over HTTPS on 127.0.0.1 (a free port) until the block ends."""
    receiver = Receiver("")

    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = Received(self.command, self.path, dict(self.headers.items()), self.rfile.read(length))
            receiver.received.append(request)
            answer = handle(request)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"https://127.0.0.1:{server.server_address[1]}"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
