"""Certificate download (§7.4.2: application/pem-certificate-chain, leaf first, up to the root) and
revokeCert (§7.6, signed with an account key or the certificate's own key)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from acme_server.acme import links
from acme_server.acme.jws import verify_post
from acme_server.errors import Malformed, NotFound
from acme_server.services.acme import revocation
from ca_core.errors import CAError
from ca_core.jose import b64decode

PEM_CHAIN = "application/pem-certificate-chain"


async def certificate(request: Request) -> Response:
    """The primary chain at /cert/{id}, alternates at /cert/{id}/{n}; each response links the others
    with rel="alternate" (§7.4.2), which certbot's and lego's --preferred-chain use."""
    post = await verify_post(request)
    post.check_post_as_get()
    rt = links.runtime(request)
    certificate_id = request.path_params["certificate_id"]
    # The primary chain (chain_pem: the issuing CA and every CA above it up to the root), then alternates.
    found = await revocation.download(rt, post.require_account(), certificate_id)
    chains = found.chains
    index = int(request.path_params.get("alternate", 0))
    if index >= len(chains):
        raise NotFound("certificate chain", f"{certificate_id}/{index}")
    others = [
        links.certificate_chain_url(request, certificate_id, n) for n in range(len(chains)) if n != index
    ]
    headers = {"Link": ", ".join(f'<{url}>;rel="alternate"' for url in others)} if others else {}
    return Response(found.certificate_pem + chains[index], media_type=PEM_CHAIN, headers=headers)


async def revoke_cert(request: Request) -> Response:
    post = await verify_post(request, auth="either")
    payload = post.json()
    encoded = payload.get("certificate")
    if not isinstance(encoded, str):
        raise Malformed("revokeCert needs a certificate (base64url DER)")
    try:
        der = b64decode(encoded)
    except CAError:
        raise Malformed("the certificate is not base64url") from None
    await revocation.revoke(
        links.runtime(request),
        der,
        payload.get("reason"),
        account=post.account,
        jwk=None if post.account is not None else post.jwk,
    )
    return Response(status_code=200)
