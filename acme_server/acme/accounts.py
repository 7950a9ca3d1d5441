"""newAccount (§7.3, §7.3.4 EAB), account update and deactivation (§7.3.2, §7.3.6), the orders list
(§7.1.2.1) and keyChange (§7.3.5). Handlers: verify -> parse -> one service call -> render."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from acme_server.acme import links, render
from acme_server.acme.jws import (
    check_algorithm,
    check_signature,
    json_object,
    parse_flattened,
    parse_protected,
    verify_post,
)
from acme_server.errors import Malformed, Unauthorized
from acme_server.services.acme import accounts, orders
from acme_server.services.acme.accounts import NewAccount, check_contacts
from acme_server.statuses import AccountStatus
from ca_core.errors import BadPublicKey
from ca_core.jose import parse_jwk


def _bool(payload: dict[str, object], name: str) -> bool:
    value = payload.get(name, False)
    if not isinstance(value, bool):
        raise Malformed(f"{name} must be a boolean")
    return value


async def new_account(request: Request) -> Response:
    post = await verify_post(request, auth="jwk")
    payload = post.json()
    binding = payload.get("externalAccountBinding")
    if binding is not None and not isinstance(binding, dict):
        raise Malformed("externalAccountBinding must be a JWS object")
    account, created = await accounts.new_account(
        links.runtime(request),
        NewAccount(
            jwk=post.jwk,
            contacts=check_contacts(payload.get("contact")),
            terms_agreed=_bool(payload, "termsOfServiceAgreed"),
            only_return_existing=_bool(payload, "onlyReturnExisting"),
            external_binding=binding,
            new_account_url=post.url,
        ),
        eab_required=request.app.state.settings.eab_required,
        terms_required=request.app.state.settings.terms_of_service is not None,
        profile=links.profile_of(request),
        client_ip=request.client.host if request.client else None,
    )
    return render.json_response(
        render.account(request, account),
        201 if created else 200,
        Location=links.account_url(request, account.id),
    )


async def account(request: Request) -> Response:
    post = await verify_post(request)
    current = post.require_account()
    if current.id != request.path_params["account_id"]:
        raise Unauthorized("the kid does not match the account URL")
    rt = links.runtime(request)
    if not post.post_as_get:
        payload = post.json()
        if payload.get("status") == AccountStatus.DEACTIVATED:
            current = await accounts.deactivate_account(rt, current)
        elif "status" in payload:
            raise Malformed("an account's status can only be changed to deactivated")
        elif "contact" in payload:
            current = await accounts.update_account(rt, current, contacts=check_contacts(payload["contact"]))
    return render.json_response(
        render.account(request, current), Location=links.account_url(request, current.id)
    )


async def account_orders(request: Request) -> Response:
    """§7.1.2.1: the account's orders, paged with a Link rel="next" header."""
    post = await verify_post(request)
    post.check_post_as_get()
    current = post.require_account()
    if current.id != request.path_params["account_id"]:
        raise Unauthorized("these are another account's orders")
    cursor = request.query_params.get("cursor")
    ids, next_cursor = await orders.list_orders(links.runtime(request), current, cursor)
    headers: dict[str, str] = {}
    if next_cursor:
        base = links.url_for(request, "account_orders", account_id=current.id)
        headers["Link"] = f'<{base}?cursor={next_cursor}>;rel="next"'
    return render.json_response({"orders": [links.order_url(request, i) for i in ids]}, 200, **headers)


async def key_change(request: Request) -> Response:
    """§7.3.5: the outer JWS is signed by the old key (kid); the inner one by the new key (jwk), with
    the same url and payload {account, oldKey}."""
    post = await verify_post(request)
    current = post.require_account()
    inner = parse_flattened(post.payload)
    protected = parse_protected(inner)
    alg = check_algorithm(protected)
    if "nonce" in protected:
        raise Malformed("the inner keyChange JWS must not have a nonce")
    if protected.get("url") != post.url:
        raise Malformed("the inner keyChange JWS url must equal the outer url")
    try:
        new_jwk = parse_jwk(protected.get("jwk"))
    except BadPublicKey as exc:
        raise BadPublicKey(exc.detail) from None
    check_signature(alg, new_jwk, inner)
    change = json_object(inner["payload"], what="the inner keyChange payload")
    if change.get("account") != links.account_url(request, current.id):
        raise Malformed("keyChange account does not match the signing account")
    try:
        old = parse_jwk(change.get("oldKey"))
    except BadPublicKey:
        raise Malformed("keyChange oldKey is not a public JWK") from None
    if old.thumbprint != current.jwk.thumbprint:
        raise Unauthorized("keyChange oldKey is not the account's current key")
    updated = await accounts.change_key(links.runtime(request), current, new_jwk)
    return render.json_response(
        render.account(request, updated), Location=links.account_url(request, updated.id)
    )
