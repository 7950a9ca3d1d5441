"""One HTTP/1.1 GET over one fresh connection, for http-01: asyncio streams and httptools' C parser.

The VA asks one question per connection (no keep-alive, no proxy, no decompression, no cookies), so a
general client's machinery (pools, auth and redirect layers, async-library detection on every close)
is cost without use: httpx spent about 40 % of a validation's CPU there (docs/performance.md).
Redirects and every policy decision stay in http01.py; this module only moves bytes and parses them.
Errors never quote what the peer sent (RFC 8555 §10.2): a kind, never the bytes."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field

import httptools

READ_SIZE = 65536


class ConnectFailed(Exception):
    """No TCP (or, for https, no TLS) connection; the message is the local OS's or TLS library's."""


class ExchangeFailed(Exception):
    """The connection broke or the reply is not a well-formed HTTP/1.1 response; the message is a
    fixed kind, never the peer's bytes."""


@dataclass
class WireResponse:
    status: int
    headers: dict[str, str]  # lower-case names; the first of repeated headers
    body: bytes = b""
    too_large: bool = False  # the body (declared or received) passed max_body: it was not read on


@dataclass
class _Reply:
    """httptools' callback target: what one response said so far."""

    max_body: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    headers_done: bool = False
    complete: bool = False
    too_large: bool = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, chunk: bytes) -> None:
        if self.too_large:
            return
        self.body += chunk
        if len(self.body) > self.max_body:
            self.too_large = True

    def on_message_complete(self) -> None:
        self.complete = True


def request_bytes(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\nConnection: close\r\n\r\n").encode("latin-1")


async def get(
    host: str,
    port: int,
    request: bytes,
    *,
    tls: ssl.SSLContext | None,
    server_hostname: str | None,
    max_body: int,
    want_body: bool = True,
) -> WireResponse:
    """Send `request` to host:port and read one response. The body is read only for a 200 when
    `want_body`; past `max_body` bytes (declared or received) reading stops with too_large."""
    try:
        reader, writer = await asyncio.open_connection(
            host, port, ssl=tls, server_hostname=(server_hostname or "") if tls is not None else None
        )
    except (OSError, ssl.SSLError, ssl.CertificateError) as error:
        raise ConnectFailed(str(error) or type(error).__name__) from error
    try:
        writer.write(request)
        return await _read(reader, max_body, want_body)
    except (ConnectionError, ssl.SSLError) as error:
        raise ExchangeFailed("the connection broke") from error
    finally:
        writer.transport.abort()  # no graceful TLS close: nothing more is read from this peer


async def _read(reader: asyncio.StreamReader, max_body: int, want_body: bool) -> WireResponse:
    reply = _Reply(max_body)
    parser = httptools.HttpResponseParser(reply)
    while True:
        chunk = await reader.read(READ_SIZE)
        if not chunk:
            return _at_end_of_stream(reply, parser)
        try:
            parser.feed_data(chunk)
        except httptools.HttpParserUpgrade:
            raise ExchangeFailed("the reply asked for a protocol upgrade") from None
        except httptools.HttpParserError:
            raise ExchangeFailed("the reply is not a well-formed HTTP/1.1 response") from None
        if not reply.headers_done:
            continue
        status = parser.get_status_code()
        if status != 200 or not want_body:
            return WireResponse(status, reply.headers)
        declared = reply.headers.get("content-length", "")
        if reply.too_large or (declared.isdigit() and int(declared) > max_body):
            return WireResponse(status, reply.headers, too_large=True)
        if reply.complete:
            return WireResponse(status, reply.headers, bytes(reply.body))


def _at_end_of_stream(reply: _Reply, parser: httptools.HttpResponseParser) -> WireResponse:
    """The peer closed: a complete response only when the body was delimited by the close itself
    (neither Content-Length nor chunked, RFC 9112 §6.3 rule 8)."""
    if not reply.headers_done:
        raise ExchangeFailed("the connection closed before a complete response")
    delimited = "content-length" in reply.headers or "chunked" in reply.headers.get("transfer-encoding", "")
    if delimited and not reply.complete:
        raise ExchangeFailed("the connection closed before the response ended")
    return WireResponse(parser.get_status_code(), reply.headers, bytes(reply.body))
