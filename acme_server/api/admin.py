"""Admin resources: /cert-manager/eab-keys (external account binding keys for ACME clients; the HMAC
key is returned once) and /tokens (API tokens; the secret is returned once)."""

from __future__ import annotations

from typing import Any

from acme_server.api import inputs, views
from acme_server.api.http import Call
from acme_server.services.access import tokens
from acme_server.services.acme import eab


async def create_eab_key(call: Call) -> dict[str, Any]:
    profile = call.body.get("profile")
    limit = call.body.get("maxAccounts", 1)  # null: any number of accounts
    key = await eab.create_eab_key(call.rt, profile, limit)
    return {"kid": key.kid, "hmacKey": key.hmac, "profile": profile, "maxAccounts": limit}


async def list_eab_keys(call: Call) -> dict[str, Any]:
    return {
        "eabKeys": [views.eab_key(key) for key in await eab.list_eab_keys(call.rt, call.query.get("profile"))]
    }


async def get_eab_key(call: Call) -> dict[str, Any]:
    return views.eab_key(await eab.get_eab_key(call.rt, call.path["kid"]))


async def disable_eab_key(call: Call) -> dict[str, Any]:
    kid = call.path["kid"]
    await eab.disable_eab_key(call.rt, kid, deactivate_accounts=call.body.get("deactivateAccounts", False))
    return views.eab_key(await eab.get_eab_key(call.rt, kid))


async def enable_eab_key(call: Call) -> dict[str, Any]:
    kid = call.path["kid"]
    await eab.enable_eab_key(call.rt, kid)
    return views.eab_key(await eab.get_eab_key(call.rt, kid))


async def delete_eab_key(call: Call) -> None:
    deactivate = call.query.get("deactivateAccounts", False)
    await eab.delete_eab_key(call.rt, call.path["kid"], deactivate_accounts=deactivate)


async def create_token(call: Call) -> dict[str, Any]:
    body = call.body
    secret, info = await tokens.create_token(
        call.rt, body["name"], body["role"], inputs.duration(body, "expiresIn")
    )
    return {**views.token(info), "token": secret}


async def list_tokens(call: Call) -> dict[str, Any]:
    return {"tokens": [views.token(info) for info in await tokens.list_tokens(call.rt)]}


async def delete_token(call: Call) -> None:
    await tokens.revoke_token(call.rt, call.path["token"])
