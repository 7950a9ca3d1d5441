"""The benchmark's http-01 responder (RFC 8555 §8.3): answers GET /.well-known/acme-challenge/<token>
with `<token>.<thumbprint>` for the one account key the benchmark uses, so it needs no per-order set-up
call; anything else gets 404. One request per connection, as validation authorities send them.

    python -m bench.responder --port PORT --thumbprint THUMBPRINT

It runs as its own process so its CPU is neither the client's nor the server's."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re

PREFIX = "/.well-known/acme-challenge/"
TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")  # base64url without padding (RFC 8555 §8.1)
MAX_HEAD = 16 * 1024
READ_TIMEOUT = 10.0


def answer(request_line: str, thumbprint: str) -> tuple[int, bytes]:
    """(status, body) for one request line, e.g. `GET /.well-known/acme-challenge/abc HTTP/1.1`."""
    parts = request_line.split(" ")
    if len(parts) != 3 or parts[0] not in ("GET", "HEAD") or not parts[1].startswith(PREFIX):
        return 404, b"not found\n"
    token = parts[1].removeprefix(PREFIX)
    if not TOKEN.fullmatch(token):
        return 404, b"not found\n"
    return 200, f"{token}.{thumbprint}".encode()


async def serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, thumbprint: str) -> None:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
        status, body = answer(head.split(b"\r\n", 1)[0].decode("latin-1"), thumbprint)
        reason = "OK" if status == 200 else "Not Found"
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
    except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass  # a client that went away or sent no complete request head gets nothing
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def serve(host: str, port: int, thumbprint: str) -> None:
    server = await asyncio.start_server(
        lambda r, w: serve_one(r, w, thumbprint), host, port, limit=MAX_HEAD, backlog=512
    )
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description="http-01 responder for the ACME benchmark")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--thumbprint", required=True, help="the account key's JWK thumbprint (RFC 7638)")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, args.thumbprint))


if __name__ == "__main__":
    main()
