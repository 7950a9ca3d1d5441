"""GET directory (§7.1.1) — the default one and one per profile — and newNonce (§7.2)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from acme_server.acme import links
from acme_server.acme.render import json_response
from acme_server.services.acme import accounts
from acme_server.services.config import profiles


async def directory(request: Request) -> Response:
    settings = request.app.state.settings
    forced = links.profile_of(request)
    rt = links.runtime(request)
    eab_required = await accounts.eab_required_for(rt, forced, settings.eab_required)  # 404: unknown profile
    body: dict[str, Any] = {
        "newNonce": links.url_for(request, "new_nonce"),
        "newAccount": links.scoped(request, "new_account"),
        "newOrder": links.scoped(request, "new_order"),
        "newAuthz": links.url_for(request, "new_authz"),  # §7.4.1 pre-authorization
        "revokeCert": links.url_for(request, "revoke_cert"),
        "keyChange": links.url_for(request, "key_change"),
        "renewalInfo": links.renewal_info_base_url(request),  # RFC 9773 §4.1
    }
    meta: dict[str, Any] = {"externalAccountRequired": eab_required}
    if settings.terms_of_service:
        meta["termsOfService"] = settings.terms_of_service
    if settings.website:
        meta["website"] = settings.website
    if settings.caa_identities:
        meta["caaIdentities"] = list(settings.caa_identities)
        # draft-ietf-acme-dns-persist-02 §3.2, §4.1: what a pre-provisioned record names
        meta["issuerDomainNames"] = list(settings.caa_identities)[:10]
        meta["accountHashPrefix"] = links.account_hash_prefix(rt.public_url)
    meta["profiles"] = {
        profile.name: profile.description or profile.name
        for profile in await profiles.acme_profiles(rt)
        if forced is None or profile.name == forced
    }
    body["meta"] = meta
    return json_response(body)


async def new_nonce(request: Request) -> Response:
    """§7.2: HEAD answers 200, GET 204; the nonce itself comes from the ACME headers middleware."""
    status = 200 if request.method == "HEAD" else 204
    return Response(status_code=status, headers={"Cache-Control": "no-store"})
