"""CA pages: the list, and one CA with its chain and a link to its CRL (served by the status
endpoints, so the UI never builds a CRL itself)."""

from __future__ import annotations

from starlette.responses import Response

from acme_server.services import cas
from acme_server.ui.pages import Page, page
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
    names = {c.id: c.name for c in await cas.list_cas(current.rt)}
    crl_url = current.request.app.url_path_for("crl", ca_id=ca.id, format="crl")
    return current.render("ca.html", ca=ca, chain=chain, names=names, crl_url=crl_url)
