"""GET /metrics: the Prometheus exposition (docs/operations.md "Metrics"), for an API token of role
viewer or above — the figures (certificates per CA and profile, traffic) are inventory a viewer may
read anyway, and nobody without a token. The plain-HTTP status listener does not serve it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from acme_server.api import problems
from acme_server.api.http import authorize
from acme_server.observability import metrics
from acme_server.services.access.tokens import Role
from acme_server.services.platform import metrics as scrape
from acme_server.services.runtime import Runtime
from ca_core.errors import CAError


async def get_metrics(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    try:
        await authorize(request, rt, Role.VIEWER)
        scrape.record_pools(rt)
        expiring = await scrape.expiring_certificates(rt)
    except CAError as exc:  # the API's problem types: the same token refusals as /api/v1
        return problems.problem_response(exc, request.url.path)
    body = metrics.exposition(request.app.state.metrics_dir, expiring)
    return Response(body, media_type=metrics.CONTENT_TYPE)
