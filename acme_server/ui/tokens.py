"""API tokens (admin, as the API's /tokens): the list, create — the secret is shown once, on the
response page itself (never in a URL; every UI page is Cache-Control: no-store) — and revoke."""

from __future__ import annotations

from starlette.responses import Response

from acme_server.services.access import tokens
from acme_server.services.access.tokens import Role
from acme_server.ui.pages import Page, page
from ca_core.durations import parse_duration
from ca_core.errors import CAError, InvalidSetting


def _field_of(exc: CAError) -> str:
    """The form field a refusal concerns: a lifetime names its field; name and role lead the detail."""
    if isinstance(exc, InvalidSetting):
        return "expires_in"
    return "role" if exc.detail.startswith("role") else "name"


async def _render(current: Page, status: int = 200, **extra: object) -> Response:
    return current.render(
        "tokens.html",
        status=status,
        tokens=await tokens.list_tokens(current.rt),
        roles=list(Role),
        errors=extra.pop("errors", {}),
        form=extra.pop("form", current.form or {}),
        **extra,
    )


@page(Role.ADMIN)
async def list_tokens(current: Page) -> Response:
    return await _render(current)


@page(Role.ADMIN)
async def create_token(current: Page) -> Response:
    expires = current.field("expires_in")
    try:
        expires_in = parse_duration(expires, field="expires_in") if expires else None
        secret, created = await tokens.create_token(
            current.rt, current.field("name"), current.field("role"), expires_in
        )
    except CAError as exc:
        return await _render(current, 400, errors={_field_of(exc): exc.detail})
    return await _render(current, 201, created=created, secret=secret, form={})


@page(Role.ADMIN)
async def revoke_token(current: Page) -> Response:
    await tokens.revoke_token(current.rt, current.request.path_params["id"])
    return current.redirect("tokens")
