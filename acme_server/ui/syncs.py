"""A certificate's syncs on its details page: add one — a form per destination type, its fields
from ui/sync_forms.py (never JSON to type) — push now, remove. Validation, the role rule for what only an
admin may set (a reload command, a directory outside the configured roots, an endpoint URL, a
webhook's key) and pushing are services/delivery/ (syncs.py, pushes.py); secrets go in and are never
shown again."""

from __future__ import annotations

from typing import Any

from starlette.responses import RedirectResponse, Response

from acme_server.errors import Forbidden
from acme_server.problems import problem_for
from acme_server.services.access.tokens import Role
from acme_server.services.delivery import pushes, syncs
from acme_server.ui.certificates import details_page, known_names
from acme_server.ui.pages import Page, page
from acme_server.ui.sync_forms import SYNC_FORMS, SyncField, form_context, form_name
from ca_core.errors import CAError, InvalidSetting
from ca_core.metadata import parse_pairs


def _value(current: Page, destination_type: str, field: SyncField) -> Any:
    text = current.field(form_name(destination_type, field))
    if not text:
        return None
    if field.kind == "number":
        try:
            return float(text)
        except ValueError:
            raise InvalidSetting(f"config.{field.key}", f"{text!r} is not a number") from None
    if field.kind == "check":
        return True
    if field.kind == "pairs":
        lines = [line for line in text.splitlines() if line.strip()]
        return parse_pairs(lines, field=f"config.{field.key}")
    return text


def _parts(current: Page, destination_type: str) -> tuple[dict[str, Any], dict[str, str]]:
    """(config, secrets) from the chosen type's fields; the other types' fields are ignored."""
    if destination_type not in SYNC_FORMS:
        raise InvalidSetting("destinationType", f"choose one of {', '.join(SYNC_FORMS)}")
    config: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    for field in SYNC_FORMS[destination_type]:
        value = _value(current, destination_type, field)
        if value is not None:
            (secrets if field.part == "secrets" else config)[field.key] = value
    return config, secrets


def _form_field(exc: CAError, destination_type: str) -> str:
    """Which form field a refusal is shown under: `config.path` -> directory-path."""
    name = exc.field if isinstance(exc, InvalidSetting) else "sync"
    if name == "name":
        return "sync_name"
    if name == "destinationType":
        return "destination_type"
    key = name.split(".")[1] if "." in name else ""
    known = {f.key for f in SYNC_FORMS.get(destination_type, ())}
    return f"{destination_type}-{key}" if key in known else "sync"


def _on_certificate(current: Page) -> bool:
    """Whether the action came from a certificate's details page (else from the Syncs page)."""
    return "id" in current.request.path_params


def _back(current: Page) -> Response:
    """To the page the action came from: the details page's Syncs section, or the Syncs page."""
    if _on_certificate(current):
        url = current.url("certificate", id=current.request.path_params["id"]) + "#syncs"
        return RedirectResponse(url, 303)
    return current.redirect("syncs")


async def syncs_page(current: Page, status: int = 200, errors: dict[str, str] | None = None) -> Response:
    return current.render(
        "syncs.html",
        status=status,
        syncs=await syncs.list_syncs(current.rt),
        profile_names=(await known_names(current))[0],
        errors=errors or {},
        **form_context(current.rt),
    )


async def _refused(current: Page, status: int, errors: dict[str, str]) -> Response:
    if _on_certificate(current):
        return await details_page(current, status, errors=errors, sync_open=True)
    return await syncs_page(current, status, errors)


def _follows(current: Page) -> tuple[str | None, str | None]:
    """(certificate, profile) the new sync pushes: the details page's certificate, or what the Syncs
    page's form names (a profile's newest certificate, or one certificate by id)."""
    if _on_certificate(current):
        return current.request.path_params["id"], None
    if current.field("follows") == "certificate":
        return current.field("certificate") or None, None
    return None, current.field("profile") or None


@page()
async def list_syncs(current: Page) -> Response:
    return await syncs_page(current)


@page(Role.OPERATOR)
async def add_sync(current: Page) -> Response:
    destination_type = current.field("destination_type")
    try:
        config, secrets = _parts(current, destination_type)
        certificate, profile = _follows(current)
        await syncs.create_sync(
            current.rt,
            name=current.field("sync_name"),
            destination_type=destination_type,
            config=config,
            secrets=secrets,
            role=current.user.role if current.user else Role.VIEWER,
            certificate=certificate,
            profile=profile,
        )
    except Forbidden as exc:  # e.g. a directory outside the configured roots: admins only
        return await _refused(current, 403, {"sync": exc.detail})
    except CAError as exc:
        status = problem_for(exc)[1]
        errors = {_form_field(exc, destination_type): exc.detail}
        return await _refused(current, status if status < 500 else 400, errors)
    return _back(current)


@page(Role.OPERATOR)
async def push_sync(current: Page) -> Response:
    """Push now; a failed push is not an error here, it is the sync's last status shown in the list."""
    await pushes.run_sync(current.rt, current.request.path_params["sync"])
    return _back(current)


@page(Role.OPERATOR)
async def remove_sync(current: Page) -> Response:
    await syncs.delete_sync(current.rt, current.request.path_params["sync"])
    return _back(current)
