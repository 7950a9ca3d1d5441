"""/cert-manager/syncs: push certificates to destinations (a directory, AWS Certificate Manager, Azure
Key Vault, a webhook).
Secrets go in on creation and never come out: every view shows only `hasSecrets`."""

from __future__ import annotations

from typing import Any

from acme_server.api.http import Call
from acme_server.services.access.tokens import Role
from acme_server.services.delivery import pushes, syncs


async def create_sync(call: Call) -> dict[str, Any]:
    body = call.body
    sync = await syncs.create_sync(
        call.rt,
        name=body["name"],
        destination_type=body["destinationType"],
        config=body.get("config", {}),
        secrets=body.get("secrets"),
        certificate=body.get("certificateId"),
        profile=body.get("profile"),
        push=body.get("push", True),
        role=call.token.role if call.token else Role.VIEWER,
    )
    return sync.to_document()


async def list_syncs(call: Call) -> dict[str, Any]:
    found = await syncs.list_syncs(
        call.rt, certificate=call.query.get("certificate"), profile=call.query.get("profile")
    )
    return {"syncs": [s.to_document() for s in found]}


async def get_sync(call: Call) -> dict[str, Any]:
    return (await syncs.get_sync(call.rt, call.path["sync"])).to_document()


async def run_sync(call: Call) -> dict[str, Any]:
    """Push now; the outcome is the sync's lastStatus and lastError (a failed push is still a 200)."""
    return (await pushes.run_sync(call.rt, call.path["sync"])).to_document()


async def delete_sync(call: Call) -> None:
    """Forget the sync; what it pushed stays where it is."""
    await syncs.delete_sync(call.rt, call.path["sync"])
