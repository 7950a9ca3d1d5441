"""newOrder (§7.4), order POST-as-GET (§7.1.3) and finalize (§7.4). newOrder answers exactly 201 and
finalize exactly 200 (what cert-manager expects); Retry-After while an order is processing."""

from __future__ import annotations

import re
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from acme_server.acme import links, render
from acme_server.acme.jws import verify_post
from acme_server.errors import Malformed
from acme_server.services.acme import finalize as finalize_service
from acme_server.services.acme import orders
from acme_server.services.acme.authorizations import parse_identifiers
from acme_server.services.acme.orders import NewOrder
from acme_server.statuses import OrderStatus
from ca_core.errors import CAError
from ca_core.jose import b64decode


def _time(payload: dict[str, object], name: str) -> datetime | None:
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Malformed(f"{name} must be an RFC 3339 date-time string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Malformed(f"{name} {value!r} is not an RFC 3339 date-time") from None
    if parsed.tzinfo is None:
        raise Malformed(f"{name} must carry a time zone")
    return parsed


def _optional_text(payload: dict[str, object], name: str) -> str | None:
    value = payload.get(name)
    if value is not None and not isinstance(value, str):
        raise Malformed(f"{name} must be a string")
    return value


def _order_response(request: Request, view: orders.OrderView, status: int = 200) -> Response:
    body = render.order(request, view)  # the service resolved all it shows: no reads here
    headers = {"Location": links.order_url(request, view.record.id)}
    # processing: signing; pending: validations to answer or running. Either way the next look is
    # worth a second's wait, and a client that honours it cannot flood a loaded server with polls.
    if body["status"] in (OrderStatus.PROCESSING, OrderStatus.PENDING):
        headers["Retry-After"] = render.RETRY_AFTER_SECONDS
    return render.json_response(body, status, **headers)


async def new_order(request: Request) -> Response:
    post = await verify_post(request)
    payload = post.json()
    order = NewOrder(
        identifiers=parse_identifiers(payload.get("identifiers")),
        not_before=_time(payload, "notBefore"),
        not_after=_time(payload, "notAfter"),
        profile=_optional_text(payload, "profile"),
        replaces=_optional_text(payload, "replaces"),
    )
    view = await orders.new_order(
        links.runtime(request), post.require_account(), order, forced_profile=links.profile_of(request)
    )
    return _order_response(request, view, 201)


async def order(request: Request) -> Response:
    post = await verify_post(request)
    post.check_post_as_get()
    view = await orders.get_order(
        links.runtime(request), post.require_account(), request.path_params["order_id"]
    )
    return _order_response(request, view)


_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


def _csr_der(payload: dict[str, object]) -> bytes:
    """§7.4: csr is base64url (RFC 7515 §2, no padding) DER. Text that does not decode is malformed;
    bytes that are no good CSR are badCSR, decided by the service."""
    csr = payload.get("csr")
    if not isinstance(csr, str) or not csr:
        raise Malformed("finalize needs a csr (base64url DER)")
    if not _BASE64URL.fullmatch(csr):
        raise Malformed("the csr is not base64url: only A-Z a-z 0-9 - _ without padding")
    try:
        return b64decode(csr)
    except CAError:
        raise Malformed("the csr is not base64url") from None


async def finalize(request: Request) -> Response:
    post = await verify_post(request)
    der = _csr_der(post.json())
    view = await finalize_service.finalize(
        links.runtime(request), post.require_account(), request.path_params["order_id"], der
    )
    return _order_response(request, view)
