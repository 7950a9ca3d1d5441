"""A certificate's syncs on its details page: add one (a destination type with its JSON configuration
and secrets), push now, remove. Validation and pushing are services/syncs.py; secrets go in and are
never shown again."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import RedirectResponse, Response

from acme_server.errors import Forbidden
from acme_server.services import syncs
from acme_server.services.tokens import Role
from acme_server.ui.certificates import details_page
from acme_server.ui.pages import Page, page
from ca_core.errors import CAError, InvalidSetting

# a service's field name -> the form field its refusal is shown under
_FORM_FIELDS = {"name": "sync_name", "destinationType": "destination_type", "secrets": "secrets"}


def _json_object(text: str, field: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidSetting(field, f"not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(value, dict):
        raise InvalidSetting(field, 'must be a JSON object, e.g. {"path": "/etc/nginx/tls"}')
    return value


def _form_field(exc: CAError) -> str:
    name = exc.field if isinstance(exc, InvalidSetting) else "sync"
    if name.startswith("config"):
        return "config"
    return _FORM_FIELDS.get(name.split(".")[0], "sync")


def _back(current: Page) -> Response:
    """To the details page's Syncs section."""
    return RedirectResponse(current.url("certificate", id=current.request.path_params["id"]) + "#syncs", 303)


@page(Role.OPERATOR)
async def add_sync(current: Page) -> Response:
    certificate_id = current.request.path_params["id"]
    try:
        secrets = _json_object(current.field("secrets"), "secrets")
        await syncs.create_sync(
            current.rt,
            name=current.field("sync_name"),
            destination_type=current.field("destination_type"),
            config=_json_object(current.field("config"), "config"),
            secrets={str(k): str(v) for k, v in secrets.items()},
            certificate=certificate_id,
            role=current.user.role if current.user else Role.VIEWER,
        )
    except Forbidden as exc:  # an operator naming a reload command: admins only
        return await details_page(current, 403, errors={"config": exc.detail})
    except CAError as exc:
        return await details_page(current, 400, errors={_form_field(exc): exc.detail})
    return _back(current)


@page(Role.OPERATOR)
async def push_sync(current: Page) -> Response:
    """Push now; a failed push is not an error here, it is the sync's last status shown in the list."""
    await syncs.run_sync(current.rt, current.request.path_params["sync"])
    return _back(current)


@page(Role.OPERATOR)
async def remove_sync(current: Page) -> Response:
    await syncs.delete_sync(current.rt, current.request.path_params["sync"])
    return _back(current)
