"""GET /crl/{ca_id}.crl (DER) and .pem, and /crl/{ca_id}/{k}.crl for partition k > 0: the CRL
distribution points written into issued certificates, with the validators and lifetimes HTTP caches
need (RFC 5019 §6 applies the same headers to OCSP)."""

from __future__ import annotations

from email.utils import format_datetime, parsedate_to_datetime

from starlette.requests import Request
from starlette.responses import Response

from acme_server.errors import NotFound
from acme_server.services.runtime import Runtime
from acme_server.services.status import crls
from acme_server.status import caching


async def get_crl(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    ca_id = request.path_params["ca_id"]
    fmt = request.path_params["format"]
    partition = request.path_params.get("partition", 0)
    if fmt not in ("crl", "pem"):
        raise NotFound("CRL format", fmt)
    if "partition" in request.path_params and partition == 0:  # one URL per CRL: /crl/CA_ID.crl
        raise NotFound("CRL partition", "0")
    # The status sidecar only reads what the main server published (it never signs a CRL).
    read_only = getattr(request.app.state, "status_read_only", False)
    crl = await (crls.published_crl if read_only else crls.latest_crl)(rt, ca_id, partition=partition)
    pem = fmt == "pem"
    etag = f'"{crl.ca_id}-{crl.number}{"-pem" if pem else ""}"'
    headers = {
        "ETag": etag,
        "Last-Modified": format_datetime(crl.this_update, usegmt=True),
        "Expires": format_datetime(crl.next_update, usegmt=True),
        "Cache-Control": caching.cache_control(rt.clock.now(), crl.next_update),
    }
    if _not_modified(request, etag, crl):
        return Response(status_code=304, headers=headers)
    if pem:
        return Response(crl.pem, media_type="application/x-pem-file", headers=headers)
    return Response(crl.der, media_type="application/pkix-crl", headers=headers)


def _not_modified(request: Request, etag: str, crl: crls.CRLInfo) -> bool:
    """RFC 9110 §13.1: If-None-Match wins over If-Modified-Since."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        return etag in [tag.strip() for tag in if_none_match.split(",")] or if_none_match.strip() == "*"
    since = request.headers.get("if-modified-since")
    if since is None:
        return False
    try:
        return crl.this_update.replace(microsecond=0) <= parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False
