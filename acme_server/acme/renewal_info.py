"""GET renewalInfo/{certID} (RFC 9773 §4.2): the suggested renewal window, unauthenticated, with
Retry-After (§4.3). Served by the main server and by the status sidecar alike."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from acme_server.acme.render import json_response, timestamp
from acme_server.services.renewal import ari
from acme_server.services.runtime import Runtime


async def get_renewal_info(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    info = await ari.renewal_info(rt, request.path_params["cert_id"])
    body = {"suggestedWindow": {"start": timestamp(info.window.start), "end": timestamp(info.window.end)}}
    response = json_response(body)
    response.headers["Retry-After"] = str(info.retry_after)  # §4.3
    return response
