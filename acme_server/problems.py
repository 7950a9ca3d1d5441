"""The one table: error class -> (RFC 8555 §6.7 problem type, HTTP status), looked up along the MRO.
Shared by the WFE (to answer) and the services (to store a problem on a failed order, challenge)."""

from __future__ import annotations

from typing import Any

from acme_server import errors
from ca_core import errors as core

ACME_ERROR = "urn:ietf:params:acme:error:"

PROBLEMS: dict[type[core.CAError], tuple[str, int]] = {
    core.CAError: ("malformed", 400),
    core.BadCSR: ("badCSR", 400),
    core.BadPublicKey: ("badPublicKey", 400),
    core.InvalidSetting: ("malformed", 400),
    core.InvalidIdentifier: ("rejectedIdentifier", 400),
    core.PolicyViolation: ("rejectedIdentifier", 400),
    core.UnknownProfile: ("invalidProfile", 400),  # draft-ietf-acme-profiles
    core.CADisabled: ("unauthorized", 403),
    core.KeyProtectionError: ("serverInternal", 500),
    errors.Malformed: ("malformed", 400),
    errors.Unauthorized: ("unauthorized", 403),
    errors.AccountNotValid: ("unauthorized", 401),  # RFC 8555 §7.3.6
    errors.PayloadTooLarge: ("malformed", 413),
    errors.NotFound: ("malformed", 404),
    errors.Conflict: ("malformed", 409),
    errors.AlreadyRevoked: ("alreadyRevoked", 400),
    errors.RateLimited: ("rateLimited", 429),
    errors.ConfigError: ("serverInternal", 500),
    # Boulder has no "unavailable" ACME type: its WFE answers serverInternal for a storage failure.
    # We keep that type but say 503 + Retry-After, so clients retry instead of giving up.
    errors.Unavailable: ("serverInternal", 503),
    errors.BadNonce: ("badNonce", 400),
    errors.BadSignatureAlgorithm: ("badSignatureAlgorithm", 400),
    errors.AccountDoesNotExist: ("accountDoesNotExist", 400),
    errors.ExternalAccountRequired: ("externalAccountRequired", 400),
    errors.InvalidContact: ("invalidContact", 400),
    errors.UnsupportedContact: ("unsupportedContact", 400),
    errors.UnsupportedIdentifier: ("unsupportedIdentifier", 400),
    errors.OrderNotReady: ("orderNotReady", 403),
    errors.BadRevocationReason: ("badRevocationReason", 400),
    errors.UnsupportedMediaType: ("malformed", 415),
    errors.MethodNotAllowed: ("malformed", 405),
    errors.AlreadyReplaced: ("alreadyReplaced", 409),
    errors.RejectedIdentifier: ("rejectedIdentifier", 400),
}


def problem_for(exc: core.CAError) -> tuple[str, int]:
    for cls in type(exc).__mro__:
        if cls in PROBLEMS:
            return PROBLEMS[cls]
    return PROBLEMS[core.CAError]


def problem_document(exc: core.CAError) -> dict[str, Any]:
    """The RFC 7807 body for an error; internal errors never show their detail."""
    kind, status = problem_for(exc)
    detail = exc.detail if status < 500 else "the server could not complete the request"
    document: dict[str, Any] = {"type": ACME_ERROR + kind, "detail": detail, "status": status}
    if isinstance(exc, errors.RejectedIdentifier) and len(exc.subproblems) > 0:
        document["subproblems"] = [
            {"type": ACME_ERROR + s.kind, "detail": s.detail, "identifier": s.identifier}
            for s in exc.subproblems
        ]
        # §6.7.1: several failures make a compound problem; identifiers refused only for their type
        # keep unsupportedIdentifier at the top, which is all a client needs to act on.
        if len(exc.subproblems) > 1 and not isinstance(exc, errors.UnsupportedIdentifier):
            document["type"] = ACME_ERROR + "compound"
    if isinstance(exc, errors.BadSignatureAlgorithm):
        document["algorithms"] = list(exc.algorithms)  # §6.2
    return document
