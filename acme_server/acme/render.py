"""JSON responses for ACME resources (RFC 8555 §7.1): one function per resource object, and the
response helper that sets Location and Retry-After."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from acme_server.acme import links
from acme_server.services.acme import authorizations as authz_service
from acme_server.services.acme.accounts import Account
from acme_server.services.acme.authorizations import AuthorizationRecord as AuthorizationView
from acme_server.services.acme.challenges import ChallengeRecord as ChallengeView
from acme_server.services.acme.orders import OrderView

RETRY_AFTER_SECONDS = "1"


def timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with a Z, as §7.1 examples show."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def json_response(body: Any, status: int = 200, **headers: str) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def account(request: Request, value: Account) -> dict[str, Any]:
    return {
        "status": value.status,
        "contact": list(value.contacts),
        "termsOfServiceAgreed": value.terms_agreed,
        "orders": links.url_for(request, "account_orders", account_id=value.id),
    }


def order(request: Request, view: OrderView) -> dict[str, Any]:
    value = view.record
    body: dict[str, Any] = {
        "status": view.status,
        "expires": timestamp(value.expires_at),
        "identifiers": list(value.identifiers),
        "authorizations": [links.authorization_url(request, i) for i in value.authorization_ids],
        "finalize": links.url_for(request, "finalize", order_id=value.id),
    }
    if value.not_before:
        body["notBefore"] = timestamp(value.not_before)
    if value.not_after:
        body["notAfter"] = timestamp(value.not_after)
    if value.error:
        body["error"] = value.error
    if value.certificate_id:
        body["certificate"] = links.certificate_url(request, value.certificate_id)
    if value.replaces:
        body["replaces"] = value.replaces
    if view.profile:
        body["profile"] = view.profile  # draft-ietf-acme-profiles
    return body


def challenge(request: Request, value: ChallengeView) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": value.type,
        "url": links.challenge_url(request, value.id),
        "status": value.status,
    }
    if value.type == "dns-persist-01":
        # draft-ietf-acme-dns-persist-02 §3.1: no token (the record is the same for every
        # challenge); the issuer domain names a record may name instead, at most 10.
        body["issuerDomainNames"] = list(links.runtime(request).issuer_domain_names)[:10]
    else:
        body["token"] = value.token
    if value.validated_at:
        body["validated"] = timestamp(value.validated_at)
    if value.error:
        body["error"] = value.error
    return body


def authorization(request: Request, value: AuthorizationView, now: datetime) -> dict[str, Any]:
    value_text = value.identifier_value
    body: dict[str, Any] = {
        "identifier": {"type": value.identifier_type, "value": value_text},
        "status": authz_service.effective_status(value, now),
        "expires": timestamp(value.expires_at),
        "challenges": [challenge(request, c) for c in value.challenges],
    }
    if value.wildcard:
        body["wildcard"] = True  # §7.1.4
    return body
