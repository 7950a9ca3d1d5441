"""CA pages: the list with, for an admin, the form creating a root or an intermediate (its key
generated here or in the server's PKCS#11 token, as the API's createCa), and one CA with its chain, a
link to its CRL (served by the status endpoints, so the UI never builds a CRL itself) and its
rotation: the progress for every role, and for an admin the forms that start, finish or cancel it."""

from __future__ import annotations

from starlette.responses import Response

from acme_server.errors import HSMError
from acme_server.problems import problem_for
from acme_server.services.access.tokens import Role
from acme_server.services.config import ca_creation, cas
from acme_server.services.renewal import rotation, rotation_progress
from acme_server.statuses import CAStatus
from acme_server.ui.pages import Page, page
from ca_core.durations import format_duration, parse_duration
from ca_core.errors import CAError, InvalidSetting
from ca_core.export import load_certificates_pem
from ca_core.inspect import inspect_certificate
from ca_core.keys import KeyAlgorithm
from ca_core.request import Subject

# The form's fields by the service's or schema's name of a refused setting.
_FIELDS = {"pkcs11Uri": "pkcs11_uri", "name": "name", "ttl": "ttl", "parent": "parent", "CN": "common_name"}


async def _render_list(current: Page, status: int = 200, errors: dict[str, str] | None = None) -> Response:
    found = await cas.list_cas(current.rt)
    return current.render(
        "cas.html",
        status=status,
        cas=found,
        names={c.id: c.name for c in found},
        parents=[c for c in found if c.status == CAStatus.ACTIVE],
        algorithms=list(KeyAlgorithm),
        form=current.form or {},
        errors=errors or {},
    )


@page()
async def list_cas(current: Page) -> Response:
    return await _render_list(current)


@page(Role.ADMIN)
async def create_ca(current: Page) -> Response:
    """A root or an intermediate. The key: fresh and sealed here, or in the server's token when a
    `pkcs11:` URI is given: only the URI comes from the form; the module and the PIN are the server's
    (hsm/uri.py refuses module-path and pin-source in it)."""
    try:
        info = await _create(current)
    except CAError as exc:
        if isinstance(exc, InvalidSetting):
            return await _render_list(current, 400, {_FIELDS.get(exc.field, "name"): exc.detail})
        if isinstance(exc, HSMError):  # not configured, or its PIN or token unusable: the operator's to fix
            return await _render_list(current, 409, {"pkcs11_uri": exc.detail})
        if problem_for(exc)[1] >= 500:
            raise  # the page wrapper: a generic page, the traceback logged
        return await _render_list(current, 409, {"name": exc.detail})
    return current.redirect("ca", id=info.id)


async def _create(current: Page) -> cas.CAInfo:
    name, algorithm = current.field("name"), current.field("key_algorithm")
    subject = Subject(common_name=current.field("common_name") or name)
    key_algorithm = KeyAlgorithm(algorithm) if algorithm in set(KeyAlgorithm) else None
    pkcs11_uri = current.field("pkcs11_uri") or None
    ttl = parse_duration(current.field("ttl"), field="ttl") if current.field("ttl") else None
    if current.field("type") == "intermediate":
        return await ca_creation.create_intermediate_ca(
            current.rt,
            parent=current.field("parent"),
            name=name,
            subject=subject,
            key_algorithm=key_algorithm,
            validity=ttl or ca_creation.INTERMEDIATE_VALIDITY,
            pkcs11_uri=pkcs11_uri,
        )
    return await ca_creation.create_root_ca(
        current.rt,
        name=name,
        subject=subject,
        key_algorithm=key_algorithm,
        validity=ttl or ca_creation.ROOT_VALIDITY,
        pkcs11_uri=pkcs11_uri,
    )


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
        rotation=await rotation_progress.find_rotation(current.rt, ca.id),
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
        spread=rotation_progress.parse_period(current.field("spread") or "7d", field="spread"),
        grace=rotation_progress.parse_period(current.field("grace") or "1d", field="grace"),
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
