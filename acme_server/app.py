"""create_app(settings) -> Starlette: the route table, middleware, the CAError problem handler, and a
lifespan that opens storage for this worker."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from acme_server.acme.problems import handle_ca_error, handle_unexpected
from acme_server.config import Settings
from acme_server.services.runtime import Runtime, open_runtime
from acme_server.status.crls import get_crl
from ca_core.errors import CAError

SETTINGS_ENV = "ACME_SERVER__SETTINGS"  # how `serve` hands validated settings to uvicorn workers

access_log = logging.getLogger("acme_server.access")


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


class RequestLog(BaseHTTPMiddleware):
    """One structured log line per request (method, path, status, duration)."""

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        access_log.info(
            json.dumps(
                {
                    "method": request.method,
                    "path": request.url.path,
                    "status": response.status_code,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                }
            )
        )
        return response


ROUTES = [
    Route("/healthz", health, name="health"),
    Route("/crl/{ca_id}.{format:str}", get_crl, name="crl"),
]


def create_app(settings: Settings, *, runtime: Runtime | None = None) -> Starlette:
    """The ASGI app. With `runtime` given (tests), the caller owns storage; otherwise the lifespan
    opens and closes it."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        rt = runtime or await open_runtime(settings)
        app.state.runtime = rt
        try:
            yield
        finally:
            if runtime is None:
                await rt.storage.close()

    return Starlette(
        routes=ROUTES,
        middleware=[Middleware(RequestLog)],
        exception_handlers={CAError: handle_ca_error, Exception: handle_unexpected},
        lifespan=lifespan,
    )


def settings_to_environment(settings: Settings) -> str:
    return json.dumps(
        {
            "listen": settings.listen,
            "data_dir": str(settings.data_dir),
            "database": settings.database,
            "workers": settings.workers,
            "base_url": settings.base_url,
            "kek": settings.kek,
        }
    )


def app_from_environment() -> Starlette:
    """uvicorn's factory for `serve --workers N`: each worker rebuilds the settings `serve` validated."""
    values = json.loads(os.environ[SETTINGS_ENV])
    values["data_dir"] = Path(values["data_dir"])
    return create_app(Settings(**values))
