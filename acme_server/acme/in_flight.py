"""The in-flight bound (docs/security.md "Overload"): at most `limit` ACME requests of this process
are worked on at once; one more is answered 503 at once, before it touches the database, instead of
queueing behind the others until every client times out.

RFC 8555 §6.6 keeps `rateLimited` (429, RFC 6585 §4: "the user has sent too many requests") for
limits a client runs into by its own usage; overload is the server's state, which RFC 9110 §15.6.4
answers 503 with Retry-After. The problem type is `serverInternal`, as for a busy database
(acme_server/problems.py: RFC 8555 has no "unavailable" type). AcmeHeaders, outside this middleware,
adds Replay-Nonce (a MAC, no storage) and Link, so the client retries with the nonce it was given.

The directory and newNonce are exempt: they do no database work, and a client needs them to retry.
A request takes its place once its body is in (read here, at most the JWS cap), so a client slow to
send holds none."""

from __future__ import annotations

from collections import deque

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from acme_server.acme.jws import MAX_BODY_BYTES
from acme_server.acme.problems import problem_response
from acme_server.errors import Unavailable
from acme_server.problems import problem_document

# Seconds a refused client waits: most requests take milliseconds, so the places free up well
# before; long enough that refused clients do not come straight back as one wave.
RETRY_AFTER = 2


def is_bounded(path: str) -> bool:
    """ACME requests that do work: all under /acme/ except the directories and newNonce."""
    return (
        path.startswith("/acme/")
        and path != "/acme/new-nonce"
        and not path.endswith("/directory")  # /acme/directory, /acme/profiles/{profile}/directory
    )


class InFlightBound:
    """Counts this process's bounded requests in flight (one event loop: a plain integer)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit  # 0: no bound
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.limit <= 0 or not is_bounded(scope["path"]):
            await self.app(scope, receive, send)
            return
        receive = await _read_body_first(scope, receive)
        if self.in_flight >= self.limit:
            await _refuse(scope, receive, send, self.limit)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    """503 without logging an error per request (the access log has the status): under overload the
    refusal itself must stay cheap."""
    refusal = Unavailable(
        f"the server is overloaded: {limit} requests are in flight; retry after {RETRY_AFTER} s",
        retry_after=RETRY_AFTER,
    )
    # The detail is safe to show (problem_document withholds the detail of every 5xx by default).
    document = problem_document(refusal) | {"detail": refusal.detail}
    response = problem_response(document, {"Retry-After": str(RETRY_AFTER)})
    await response(scope, receive, send)


async def _read_body_first(scope: Scope, receive: Receive) -> Receive:
    """`receive` replaying the request body read now (a body over the JWS cap is left to the handler,
    which refuses it with 413 as soon as it passes the cap)."""
    declared = dict(scope["headers"]).get(b"content-length", b"")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return receive
    messages: deque[Message] = deque()
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        size += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body") or size > MAX_BODY_BYTES:
            break

    async def replay() -> Message:
        return messages.popleft() if messages else await receive()

    return replay
