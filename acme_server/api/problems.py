"""REST problem documents (RFC 9457, application/problem+json): the one CAError tree mapped to our own
problem types, looked up along the MRO; validation errors name the field, policy violations list each
one. Anything unexpected is a generic 500 with the traceback logged, never its detail."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.responses import Response

from acme_server import errors
from acme_server.observability.logs import with_request_id
from ca_core import errors as core

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE = "urn:acme-server:problem:"

log = logging.getLogger("acme_server.errors")

# error class -> (kind, HTTP status, title)
PROBLEMS: dict[type[core.CAError], tuple[str, int, str]] = {
    core.CAError: ("bad-request", 400, "Bad request"),
    core.BadCSR: ("bad-csr", 400, "Bad certificate signing request"),
    core.BadPublicKey: ("bad-public-key", 400, "Unacceptable public key"),
    core.InvalidSetting: ("invalid-field", 400, "Invalid field"),
    core.InvalidIdentifier: ("invalid-identifier", 400, "Invalid identifier"),
    core.PolicyViolation: ("policy-violation", 400, "Refused by the certificate policy"),
    core.UnknownProfile: ("invalid-field", 400, "Invalid field"),
    core.CADisabled: ("ca-disabled", 409, "The CA is disabled"),
    core.KeyProtectionError: ("internal", 500, "Internal error"),
    errors.Malformed: ("malformed", 400, "Malformed request"),
    errors.Unauthorized: ("unauthorized", 401, "Unauthorized"),
    errors.Forbidden: ("forbidden", 403, "Forbidden"),
    errors.NotFound: ("not-found", 404, "Not found"),
    errors.MethodNotAllowed: ("method-not-allowed", 405, "Method not allowed"),
    errors.UnsupportedMediaType: ("unsupported-media-type", 415, "Unsupported media type"),
    errors.Conflict: ("conflict", 409, "Conflict"),
    errors.AlreadyRevoked: ("already-revoked", 409, "Already revoked"),
    errors.RateLimited: ("rate-limited", 429, "Too many requests"),
    errors.ConfigError: ("internal", 500, "Internal error"),
    # The operator has not given this server a PKCS#11 module or PIN: the request is fine, the server
    # cannot serve it (the detail names the serve flags; never a module path or PIN of a caller's).
    errors.HSMNotConfigured: ("hsm-not-configured", 409, "No PKCS#11 token configured"),
    # The server's own token cannot be used (its PIN is wrong or locked, the token is gone): also the
    # operator's to fix, and the detail says what (token label and cause, never the PIN or the module).
    errors.HSMError: ("hsm-unavailable", 409, "The PKCS#11 token cannot be used"),
}
INTERNAL = ("internal", 500, "Internal error")
GENERIC_DETAIL = "the server could not complete the request"


def problem_for(exc: core.CAError) -> tuple[str, int, str]:
    for cls in type(exc).__mro__:
        if cls in PROBLEMS:
            return PROBLEMS[cls]
    return PROBLEMS[core.CAError]


def problem_document(exc: core.CAError) -> dict[str, Any]:
    kind, status, title = problem_for(exc)
    if status >= 500:
        return _document(INTERNAL, GENERIC_DETAIL)
    document = _document((kind, status, title), exc.detail)
    if isinstance(exc, core.InvalidSetting):
        document["field"] = exc.field
    if isinstance(exc, core.PolicyViolation):
        document["field"] = exc.field
        document["violations"] = [
            {"field": v.field, "value": v.value, "reason": v.reason} for v in exc.violations
        ]
    return document


def _document(problem: tuple[str, int, str], detail: str) -> dict[str, Any]:
    kind, status, title = problem
    return {"type": PROBLEM_TYPE + kind, "title": title, "status": status, "detail": detail}


def problem_response(exc: core.CAError, path: str) -> Response:
    document = problem_document(exc)
    headers: dict[str, str] = {}
    if document["status"] >= 500:
        log.error("internal error on %s: %s", path, exc.detail)
    if document["status"] == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="acme-server"'
    if isinstance(exc, errors.RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    return _response(document, headers)


def unexpected_response(exc: Exception, path: str) -> Response:
    log.error("unexpected error on %s", path, exc_info=exc)
    return _response(_document(INTERNAL, GENERIC_DETAIL), {})


def _response(document: dict[str, Any], headers: dict[str, str]) -> Response:
    return Response(
        orjson.dumps(with_request_id(document)),
        status_code=document["status"],
        media_type=PROBLEM_JSON,
        headers=headers or None,
    )
