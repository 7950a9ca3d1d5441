"""POST /ocsp and GET /ocsp/{base64 request} (RFC 6960 Appendix A): the responder named in the AIA of
issued certificates. OCSP errors are OCSP responses (malformedRequest, unauthorized), as clients expect."""

from __future__ import annotations

from email.utils import format_datetime

from starlette.requests import Request
from starlette.responses import Response

from acme_server.services.runtime import Runtime
from acme_server.services.status import ocsp
from acme_server.status import caching
from ca_core.ocsp import MAX_REQUEST_SIZE, ErrorStatus, MalformedOCSPRequest, decode_get_path, error_response

OCSP_RESPONSE = "application/ocsp-response"


async def post_ocsp(request: Request) -> Response:
    declared = request.headers.get("content-length", "0")
    if not declared.isdigit() or int(declared) > MAX_REQUEST_SIZE:
        return _malformed()
    body = await request.body()
    return await _answer(request, body)


async def get_ocsp(request: Request) -> Response:
    try:
        der = decode_get_path(request.path_params["encoded"])
    except MalformedOCSPRequest:
        return _malformed()
    return await _answer(request, der)


def _malformed() -> Response:
    return Response(error_response(ErrorStatus.MALFORMED_REQUEST), media_type=OCSP_RESPONSE)


async def _answer(request: Request, der: bytes) -> Response:
    rt: Runtime = request.app.state.runtime
    result = await ocsp.respond(rt, der)
    headers = {"Cache-Control": "no-store"}
    if result.cacheable and request.method == "GET":  # RFC 5019 §5: only GET answers are cached
        assert result.this_update is not None and result.next_update is not None
        headers = {
            "Cache-Control": caching.cache_control(rt.clock.now(), result.next_update),
            "Last-Modified": format_datetime(result.this_update, usegmt=True),
            "Expires": format_datetime(result.next_update, usegmt=True),
        }
    return Response(result.der, media_type=OCSP_RESPONSE, headers=headers)
