"""CA pages: the list, and one CA with its chain, a link to its CRL (served by the status
endpoints, so the UI never builds a CRL itself) and its rotation: the progress for every role, and
for an admin (as the API's rotation endpoints) the forms that start, finish or cancel it."""

from __future__ import annotations

from starlette.responses import Response

from acme_server.services import cas, rotation
from acme_server.services.tokens import Role
from acme_server.statuses import CAStatus
from acme_server.ui.pages import Page, page
from ca_core.durations import format_duration
from ca_core.export import load_certificates_pem
from ca_core.inspect import inspect_certificate


@page()
async def list_cas(current: Page) -> Response:
    found = await cas.list_cas(current.rt)
    return current.render("cas.html", cas=found, names={c.id: c.name for c in found})


@page()
async def show_ca(current: Page) -> Response:
    ca = await cas.get_ca(current.rt, current.request.path_params["id"])
    chain = (
        [inspect_certificate(c) for c in load_certificates_pem(ca.bundle_pem.encode())]
        if ca.certificate_pem
        else []
    )
    every = await cas.list_cas(current.rt)
    names = {c.id: c.name for c in every}
    crl_url = current.request.app.url_path_for("crl", ca_id=ca.id, format="crl")
    return current.render(
        "ca.html",
        ca=ca,
        chain=chain,
        names=names,
        crl_url=crl_url,
        rotation=await rotation.find_rotation(current.rt, ca.id),
        # where an admin may rotate it to: the other active CAs
        targets=[c for c in every if c.id != ca.id and c.status == CAStatus.ACTIVE],
        duration=format_duration,
    )


@page(Role.ADMIN)
async def start_rotation(current: Page) -> Response:
    ca_id = current.request.path_params["id"]
    await rotation.start_rotation(
        current.rt,
        ca_id,
        to=current.field("to"),
        cross_sign=current.field("cross_sign") == "yes",
        spread=rotation.parse_period(current.field("spread") or "7d", field="spread"),
        grace=rotation.parse_period(current.field("grace") or "1d", field="grace"),
    )
    return current.redirect("ca", id=ca_id)


@page(Role.ADMIN)
async def finish_rotation(current: Page) -> Response:
    ca_id = current.request.path_params["id"]
    await rotation.finish_rotation(current.rt, ca_id, force=current.field("force") == "yes")
    return current.redirect("ca", id=ca_id)


@page(Role.ADMIN)
async def cancel_rotation(current: Page) -> Response:
    ca_id = current.request.path_params["id"]
    await rotation.cancel_rotation(current.rt, ca_id)
    return current.redirect("ca", id=ca_id)
