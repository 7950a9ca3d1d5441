"""/cert-manager/cas: create a root, an intermediate or an external (offline-root-signed) CA, import
its signed certificate, list, details, change its status URL and CRL partitions, disable/enable, the
CA's CRLs and its rotation."""

from __future__ import annotations

from typing import Any

from acme_server.api import inputs, views
from acme_server.api.http import Call
from acme_server.services.config import ca_creation, cas
from acme_server.services.config.ca_creation import INTERMEDIATE_VALIDITY, ROOT_VALIDITY
from acme_server.services.renewal import rotation, rotation_progress
from acme_server.services.status import crls
from ca_core.errors import InvalidSetting


async def create_ca(call: Call) -> dict[str, Any]:
    body = call.body
    name = body["name"]
    common = {
        "name": name,
        "subject": inputs.subject(body, default_cn=name),
        "key_algorithm": inputs.key_algorithm(body),
        "settings": inputs.ca_settings(body),
        # Only the URI: the module to load and the PIN are the server's configuration (hsm/uri.py).
        "pkcs11_uri": body.get("pkcs11Uri"),
    }
    ttl = inputs.duration(body, "ttl")
    if body["type"] == "root":
        info = await ca_creation.create_root_ca(call.rt, validity=ttl or ROOT_VALIDITY, **common)
    elif body["type"] == "intermediate":
        if not body.get("parent"):
            raise InvalidSetting("parent", "an intermediate CA needs the parent CA (id or name)")
        info = await ca_creation.create_intermediate_ca(
            call.rt, parent=body["parent"], validity=ttl or INTERMEDIATE_VALIDITY, **common
        )
    else:
        info = await ca_creation.create_external_ca(call.rt, **common)
    return views.ca(info)


async def import_certificate(call: Call) -> dict[str, Any]:
    body = call.body
    info = await ca_creation.import_external_certificate(
        call.rt,
        call.path["ca"],
        body["certificate"].encode(),
        body.get("certificateChain", "").encode(),
    )
    return views.ca(info)


async def list_cas(call: Call) -> dict[str, Any]:
    return {"cas": [views.ca(info) for info in await cas.list_cas(call.rt)]}


async def get_ca(call: Call) -> dict[str, Any]:
    return views.ca(await cas.get_ca(call.rt, call.path["ca"]))


async def update_ca(call: Call) -> dict[str, Any]:
    body = call.body
    info = await crls.update_ca(
        call.rt, call.path["ca"], status_url=body.get("statusUrl"), crl_partitions=body.get("crlPartitions")
    )
    return views.ca(info)


async def disable_ca(call: Call) -> dict[str, Any]:
    return views.ca(await cas.set_ca_enabled(call.rt, call.path["ca"], False))


async def enable_ca(call: Call) -> dict[str, Any]:
    return views.ca(await cas.set_ca_enabled(call.rt, call.path["ca"], True))


async def list_crls(call: Call) -> list[dict[str, Any]]:
    """The seed's List CRLs: every CRL of the CA, newest first, PEM in `crl`; the first one is made on
    demand so a new CA lists one."""
    found = await crls.list_crls(call.rt, call.path["ca"])
    if not found:
        found = [await crls.latest_crl(call.rt, call.path["ca"])]
    return [views.crl(info) for info in found]


async def start_rotation(call: Call) -> dict[str, Any]:
    body = call.body
    progress = await rotation.start_rotation(
        call.rt,
        call.path["ca"],
        to=body["to"],
        create=body.get("create", False),
        cross_sign=body.get("crossSign", False),
        spread=rotation_progress.parse_period(body.get("spread", "7d"), field="spread"),
        grace=rotation_progress.parse_period(body.get("grace", "1d"), field="grace"),
    )
    return views.rotation(progress)


async def get_rotation(call: Call) -> dict[str, Any]:
    return views.rotation(await rotation_progress.rotation_status(call.rt, call.path["ca"]))


async def finish_rotation(call: Call) -> dict[str, Any]:
    force = call.body.get("force", False)
    return views.rotation(await rotation.finish_rotation(call.rt, call.path["ca"], force=force))


async def cancel_rotation(call: Call) -> dict[str, Any]:
    return views.rotation(await rotation.cancel_rotation(call.rt, call.path["ca"]))
