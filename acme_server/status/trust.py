"""Trust bootstrap at stable, unauthenticated URLs: every root (what a ClusterIssuer caBundle or
REQUESTS_CA_BUNDLE needs, with one curl), root N as Pebble serves /roots/0, and each CA with its chain."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from acme_server.errors import NotFound
from acme_server.services.config import cas
from acme_server.services.runtime import Runtime

PEM = "application/pem-certificate-chain"
CACHE = {"Cache-Control": "public, max-age=300"}


async def _roots(request: Request) -> list[str]:
    rt: Runtime = request.app.state.runtime
    return [ca.certificate_pem for ca in await cas.list_cas(rt) if ca.kind == "root" and ca.certificate_pem]


async def roots_bundle(request: Request) -> Response:
    """GET /roots.pem: every root CA certificate."""
    return Response("".join(await _roots(request)), media_type=PEM, headers=CACHE)


async def root(request: Request) -> Response:
    """GET /roots/{index}: one root, in creation order (Pebble's /roots/0)."""
    roots = await _roots(request)
    index = request.path_params["index"]
    if index >= len(roots):
        raise NotFound("root", str(index))
    return Response(roots[index], media_type=PEM, headers=CACHE)


async def ca_bundle(request: Request) -> Response:
    """GET /ca/{ca}.pem: a CA's certificate followed by its chain up to the root (id or name)."""
    rt: Runtime = request.app.state.runtime
    info = await cas.get_ca(rt, request.path_params["ca"])
    if not info.certificate_pem:
        raise NotFound("CA certificate", info.name)
    return Response(info.bundle_pem, media_type=PEM, headers=CACHE)
