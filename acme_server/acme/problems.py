"""Problem responses (RFC 7807, application/problem+json): the Starlette handler for CAError, registered
once; anything unexpected becomes serverInternal with a generic detail and a logged traceback."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from acme_server import errors
from acme_server.acme import links
from acme_server.observability.logs import with_request_id
from acme_server.problems import ACME_ERROR, problem_document
from ca_core.errors import CAError

PROBLEM_JSON = "application/problem+json"

log = logging.getLogger("acme_server.errors")


def problem_response(document: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(with_request_id(document)),
        status_code=document["status"],
        media_type=PROBLEM_JSON,
        headers=headers,
    )


async def handle_ca_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CAError)
    document = problem_document(exc)
    if document["status"] >= 500:
        log.error("internal error on %s: %s", request.url.path, exc.detail)
    headers: dict[str, str] = {}
    if isinstance(exc, errors.RateLimited | errors.Unavailable):  # RFC 9110 §10.2.3
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, errors.KeyInUse):  # RFC 8555 §7.3.5: point at the account holding the key
        headers["Location"] = links.account_url(request, exc.account_id)
    return problem_response(document, headers or None)


INTERNAL_ERROR = {
    "type": ACME_ERROR + "serverInternal",
    "detail": "the server could not complete the request",
    "status": 500,
}


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s", request.url.path, exc_info=exc)
    return problem_response(INTERNAL_ERROR)


async def handle_client_disconnect(request: Request, exc: Exception) -> Response:
    """The client went away while sending its body: nothing is wrong with the server, and nobody
    reads the answer (a 400 for the access log)."""
    assert isinstance(exc, ClientDisconnect)
    log.info("client disconnected during the request body on %s", request.url.path)
    return problem_response(
        {"type": ACME_ERROR + "malformed", "detail": "the request body was cut short", "status": 400}
    )


async def handle_http_error(request: Request, exc: Exception) -> Response:
    """404/405 from routing become problem documents too (§6.7)."""
    assert isinstance(exc, HTTPException)
    detail = "no such resource" if exc.status_code == 404 else str(exc.detail)
    return problem_response({"type": ACME_ERROR + "malformed", "detail": detail, "status": exc.status_code})
