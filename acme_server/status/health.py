"""Health endpoints of every app (docs/operations.md "Health"): /healthz says the process serves
(no database), /readyz that it can do its work (services/platform/health.py), as plain JSON, 200 or 503."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from acme_server.services.platform import health
from acme_server.services.runtime import Runtime


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    readiness = await health.readiness(rt)
    status = "ready" if readiness.ready else "unready"
    return JSONResponse(
        {"status": status, "checks": readiness.checks},
        status_code=200 if readiness.ready else 503,
        headers={"Cache-Control": "no-store"},
    )
