"""GET /crl/{ca_id}.crl (DER) and .pem: the CRL distribution point written into issued certificates."""

from __future__ import annotations

from email.utils import format_datetime

from starlette.requests import Request
from starlette.responses import Response

from acme_server.services import crls
from acme_server.services.runtime import Runtime


async def get_crl(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    ca_id = request.path_params["ca_id"]
    crl = await crls.latest_crl(rt, ca_id)
    pem = request.path_params["format"] == "pem"
    etag = f'"{crl.ca_id}-{crl.number}{"-pem" if pem else ""}"'
    headers = {
        "ETag": etag,
        "Last-Modified": format_datetime(crl.this_update, usegmt=True),
        "Cache-Control": "public, max-age=300",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if pem:
        return Response(crl.pem, media_type="application/x-pem-file", headers=headers)
    return Response(crl.der, media_type="application/pkix-crl", headers=headers)
