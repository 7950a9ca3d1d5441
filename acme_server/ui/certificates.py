"""Certificate pages: the inventory table with its filters, the details page, and the actions of its
Options menu (export, revoke, delete, metadata, renewal). Every rule lives in the services."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from starlette.responses import Response

from acme_server.problems import problem_for
from acme_server.services.access.tokens import Role
from acme_server.services.config import catalog
from acme_server.services.delivery import syncs
from acme_server.services.inventory import certificates, edits, export
from acme_server.services.inventory.certificates import CertificateFilter, CertificateInfo
from acme_server.services.renewal import now as renew
from acme_server.services.renewal import scheduler
from acme_server.statuses import CertificateStatus
from acme_server.ui.pages import Page, page
from acme_server.ui.sync_forms import form_context
from ca_core.errors import CAError, InvalidSetting
from ca_core.metadata import parse_pairs
from ca_core.revocation import RevocationReason

STATUSES = tuple(CertificateStatus)
PAGE_SIZE = 25
DIALOGS = ("export", "revoke", "delete")  # ?dialog=… opens one without JavaScript


@dataclass
class Listing:
    """The table's query as the user typed it, the filter built from it, and what was wrong with it."""

    values: dict[str, str | list[str]]
    query: CertificateFilter = field(default_factory=CertificateFilter)
    errors: dict[str, str] = field(default_factory=dict)
    number: int = 1  # 1-based page


def _positive(text: str, name: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise InvalidSetting(name, f"{text!r} is not a whole number of at least 1")
    return int(text)


def _by_status(value: str, now: datetime) -> dict[str, object]:
    if value not in STATUSES:
        raise InvalidSetting("status", f"no such status {value!r}")
    return {"status": CertificateStatus(value)}


def _by_expiry(value: str, now: datetime) -> dict[str, object]:
    return {"expiring_before": now + timedelta(days=_positive(value, "expiring"))}


_FILTERS = {"status": _by_status, "expiring": _by_expiry}


async def _listing(current: Page) -> Listing:
    metadata = [m.strip() for m in current.request.query_params.getlist("metadata") if m.strip()]
    values: dict[str, str | list[str]] = {
        k: current.field(k) for k in ("q", "page", "profile", "ca", *_FILTERS)
    }
    values["metadata"] = metadata
    listing = Listing(values)
    now = current.rt.clock.now()
    criteria: dict[str, object] = {"search": current.field("q") or None}
    for name, parse in _FILTERS.items():
        if value := current.field(name):
            try:
                criteria.update(parse(value, now))
            except InvalidSetting as exc:
                listing.errors[name] = exc.detail
    try:
        criteria["metadata"] = parse_pairs(metadata, field="metadata")
        listing.number = _positive(current.field("page") or "1", "page")
        listing.query = await certificates.resolve_filter(  # profile and CA by name, as the selects send
            current.rt,
            CertificateFilter(**criteria),  # type: ignore[arg-type]
            profile=current.field("profile") or None,
            ca=current.field("ca") or None,
        )
    except InvalidSetting as exc:
        listing.errors[exc.field] = exc.detail
    return listing


async def known_names(current: Page) -> tuple[dict[str, str], dict[str, str]]:
    """Profile and CA id -> name, for the table and the details page, from the cached configuration
    (one query while it is current)."""
    configuration = await catalog.current(current.rt)
    profile_names = {id_: record.name for id_, record in configuration.profile_records.items()}
    ca_names = {id_: record.name for id_, record in configuration.ca_records.items()}
    return profile_names, ca_names


@page()
async def list_certificates(current: Page) -> Response:
    profile_names, ca_names = await known_names(current)
    listing = await _listing(current)
    found: list[CertificateInfo] = []
    total = 0
    if not listing.errors:
        found, total = await certificates.list_certificates(
            current.rt, listing.query, limit=PAGE_SIZE, offset=(listing.number - 1) * PAGE_SIZE
        )
    pages = max(1, -(-total // PAGE_SIZE))
    return current.render(
        "certificates.html",
        certificates=found,
        total=total,
        listing=listing,
        pages=pages,
        statuses=STATUSES,
        profile_names=profile_names,
        ca_names=ca_names,
    )


async def details_page(current: Page, status: int = 200, **extra: object) -> Response:
    certificate = await certificates.get_certificate(current.rt, current.request.path_params["id"])
    renewal = await scheduler.get_renewal_status(current.rt, certificate.id)
    chain = await certificates.renewal_chain(current.rt, certificate.id)
    bound = await syncs.list_syncs(current.rt, certificate=certificate.id)
    if certificate.profile_id is not None:  # syncs of the profile's newest certificate, read-only here
        bound += await syncs.list_syncs(current.rt, profile=certificate.profile_id)
    profile_names, ca_names = await known_names(current)
    dialog = current.field("dialog")
    return current.render(
        "certificate.html",
        status=status,
        certificate=certificate,
        details=certificate.details,
        renewal=renewal,
        renewal_chain=chain,
        syncs=bound,
        **form_context(current.rt),
        profile_names=profile_names,
        ca_names=ca_names,
        reasons=list(RevocationReason),
        dialog=extra.pop("dialog", dialog if dialog in DIALOGS else ""),
        Role=Role,
        **extra,
    )


@page()
async def show_certificate(current: Page) -> Response:
    return await details_page(current)


def _actor(current: Page) -> str:
    """Who acts, for the services' audit log lines."""
    assert current.user is not None  # every action needs a signed-in role
    return f"UI token {current.user.name!r}"


@page(Role.OPERATOR)
async def edit_metadata(current: Page) -> Response:
    assert current.form is not None
    keys = [str(k).strip() for k in current.form.getlist("key")]
    values = [str(v).strip() for v in current.form.getlist("value")]
    metadata = {k: v for k, v in zip(keys, values, strict=False) if k}
    await edits.set_metadata(current.rt, current.request.path_params["id"], metadata)
    return current.redirect("certificate", id=current.request.path_params["id"])


@page(Role.OPERATOR)
async def export_pem(current: Page) -> Response:
    bundle = await export.export_pem(current.rt, current.request.path_params["id"], actor=_actor(current))
    return await details_page(current, dialog="pem", bundle=bundle)


@page(Role.OPERATOR)
async def export_pkcs12(current: Page) -> Response:
    certificate_id = current.request.path_params["id"]
    password, alias = current.field("password"), current.field("alias") or certificate_id
    if not password:
        return await details_page(
            current, 400, dialog="export", errors={"password": "a password is required"}
        )
    data = await export.export_pkcs12(
        current.rt, certificate_id, password=password, alias=alias, actor=_actor(current)
    )
    filename = "".join(c for c in alias if c.isalnum() or c in "-_.") or "certificate"
    return Response(
        data,
        media_type="application/x-pkcs12",
        headers={"Content-Disposition": f'attachment; filename="{filename}.p12"'},
    )


async def _unconfirmed(current: Page, dialog: str) -> Response | None:
    """The dialog again when its confirmation box was not ticked (the browser requires it; a bare
    POST may not)."""
    if current.field("confirm") == "yes":
        return None
    return await details_page(current, 400, dialog=dialog, errors={"confirm": "tick the box to confirm"})


@page(Role.OPERATOR)
async def revoke(current: Page) -> Response:
    if current.field("confirm") != "yes":
        return await details_page(
            current, 400, dialog="revoke", errors={"confirm": "tick the box to confirm"}
        )
    reason = RevocationReason.parse(current.field("reason") or "UNSPECIFIED")
    # source "api": the UI acts with an API token (the stored sources are api, acme and cli)
    await edits.revoke_certificate(current.rt, current.request.path_params["id"], reason, source="api")
    return current.redirect("certificate", id=current.request.path_params["id"])


@page(Role.OPERATOR)
async def renew_now(current: Page) -> Response:
    """Issue the successor now and show it (its Issuance links back to this one); for an ACME
    certificate, ask its client through renewalInfo and show the certificate, marked."""
    try:
        certificate_id = current.request.path_params["id"]
        successor = await renew.renew_now(current.rt, certificate_id, actor=_actor(current))
    except CAError as exc:  # e.g. one renewed before or revoked
        return await details_page(current, problem_for(exc)[1], errors={"renew": exc.detail})
    return current.redirect("certificate", id=successor.id)


@page(Role.OPERATOR)
async def auto_renew(current: Page) -> Response:
    """Switch server-driven renewal on or off; the service refuses it where the server cannot renew."""
    certificate_id = current.request.path_params["id"]
    await scheduler.set_auto_renew(current.rt, certificate_id, current.field("enabled") == "yes")
    return current.redirect("certificate", id=certificate_id)


@page(Role.OPERATOR)
async def delete(current: Page) -> Response:
    if current.field("confirm") != "yes":
        return await details_page(
            current, 400, dialog="delete", errors={"confirm": "tick the box to confirm"}
        )
    await edits.delete_certificate(current.rt, current.request.path_params["id"])
    return current.redirect("certificates")
