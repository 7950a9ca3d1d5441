"""One table: error class -> (RFC 8555 §6.7 problem type, HTTP status), looked up along the MRO and
registered once as the Starlette handler for CAError. Anything unexpected is serverInternal."""

from __future__ import annotations

import logging

import orjson
from starlette.requests import Request
from starlette.responses import Response

from acme_server import errors
from ca_core import errors as core

ACME_ERROR = "urn:ietf:params:acme:error:"
PROBLEM_JSON = "application/problem+json"

log = logging.getLogger("acme_server.errors")

PROBLEMS: dict[type[core.CAError], tuple[str, int]] = {
    core.CAError: ("malformed", 400),
    core.BadCSR: ("badCSR", 400),
    core.BadPublicKey: ("badPublicKey", 400),
    core.InvalidSetting: ("malformed", 400),
    core.InvalidIdentifier: ("rejectedIdentifier", 400),
    core.PolicyViolation: ("rejectedIdentifier", 400),
    core.UnknownProfile: ("invalidProfile", 400),
    core.CADisabled: ("unauthorized", 403),
    core.KeyProtectionError: ("serverInternal", 500),
    errors.Malformed: ("malformed", 400),
    errors.Unauthorized: ("unauthorized", 403),
    errors.NotFound: ("malformed", 404),
    errors.Conflict: ("malformed", 409),
    errors.AlreadyRevoked: ("alreadyRevoked", 400),
    errors.RateLimited: ("rateLimited", 429),
    errors.ConfigError: ("serverInternal", 500),
}


def problem_for(exc: core.CAError) -> tuple[str, int]:
    for cls in type(exc).__mro__:
        if cls in PROBLEMS:
            return PROBLEMS[cls]
    return PROBLEMS[core.CAError]


def problem_response(kind: str, status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    body = {"type": ACME_ERROR + kind, "detail": detail, "status": status}
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def handle_ca_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, core.CAError)
    kind, status = problem_for(exc)
    if status >= 500:
        log.error("internal error on %s: %s", request.url.path, exc.detail)
        return problem_response(kind, status, "the server could not complete the request")
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, errors.RateLimited) else None
    return problem_response(kind, status, exc.detail, headers)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s", request.url.path, exc_info=exc)
    return problem_response("serverInternal", 500, "the server could not complete the request")
