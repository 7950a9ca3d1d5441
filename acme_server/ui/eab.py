"""External account binding keys (admin, as the API's /eab-keys): the list with the accounts each key
bound, create — the HMAC key is shown once, on the response page itself (never in a URL; every UI
page is Cache-Control: no-store) — disable or enable, and delete (refused while accounts are bound,
unless they are deactivated with it: the service's 409)."""

from __future__ import annotations

from starlette.responses import Response

from acme_server.problems import problem_for
from acme_server.services.access.tokens import Role
from acme_server.services.acme import eab
from acme_server.services.config import profiles
from acme_server.ui.pages import Page, page
from ca_core.errors import CAError


async def _render(current: Page, status: int = 200, **extra: object) -> Response:
    return current.render(
        "eab_keys.html",
        status=status,
        keys=await eab.list_eab_keys(current.rt),
        profile_names=sorted(p.profile.name for p in await profiles.list_profiles(current.rt)),
        errors=extra.pop("errors", {}),
        form=extra.pop("form", current.form or {}),
        **extra,
    )


@page(Role.ADMIN)
async def list_eab_keys(current: Page) -> Response:
    return await _render(current)


@page(Role.ADMIN)
async def create_eab_key(current: Page) -> Response:
    try:
        limit = eab.max_accounts(current.field("max_accounts") or "1")
    except CAError as exc:
        return await _render(current, 400, errors={"max_accounts": exc.detail})
    try:
        created = await eab.create_eab_key(current.rt, current.field("profile") or None, limit)
    except CAError as exc:
        return await _render(current, 400, errors={"profile": exc.detail})
    return await _render(current, 201, created=created, form={})


def _deactivating(current: Page) -> bool:
    return current.field("deactivate_accounts") == "yes"


@page(Role.ADMIN)
async def disable_eab_key(current: Page) -> Response:
    kid = current.request.path_params["kid"]
    await eab.disable_eab_key(current.rt, kid, deactivate_accounts=_deactivating(current))
    return current.redirect("eab_keys")


@page(Role.ADMIN)
async def enable_eab_key(current: Page) -> Response:
    await eab.enable_eab_key(current.rt, current.request.path_params["kid"])
    return current.redirect("eab_keys")


@page(Role.ADMIN)
async def delete_eab_key(current: Page) -> Response:
    kid = current.request.path_params["kid"]
    try:
        await eab.delete_eab_key(current.rt, kid, deactivate_accounts=_deactivating(current))
    except CAError as exc:  # e.g. bound accounts and no deactivation: shown next to the key
        return await _render(current, problem_for(exc)[1], errors={f"key-{kid}": exc.detail})
    return current.redirect("eab_keys")
