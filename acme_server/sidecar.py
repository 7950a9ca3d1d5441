"""The status server: CRLs, OCSP and ACME renewalInfo over plain HTTP, nothing else. Run alone
(`acme-server status-server`, read-only on the shared database, as many replicas as needed) or
embedded in `acme-server serve` as its plain-HTTP status listener."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Route

from acme_server.acme.problems import handle_ca_error, handle_http_error, handle_unexpected
from acme_server.acme.renewal_info import get_renewal_info
from acme_server.config import Settings
from acme_server.services.runtime import Runtime, open_runtime
from acme_server.status import health
from acme_server.status.routes import ROUTES as STATUS_ROUTES
from ca_core.errors import CAError

ROUTES: list[BaseRoute] = [
    Route("/healthz", health.healthz, name="health"),
    Route("/readyz", health.readyz, name="ready"),
    *STATUS_ROUTES,
    # The same path as the main server's, so a proxy can send /acme/renewal-info/ here.
    Route("/acme/renewal-info/{cert_id}", get_renewal_info, name="renewal_info", methods=["GET"]),
]


def create_status_app(
    settings: Settings, *, runtime: Runtime | None = None, read_only: bool = True
) -> Starlette:
    """The status app. read_only: never migrate, create a key or sign a CRL (the sidecar); the
    embedded listener of `serve` may generate a missing CRL like the main server does."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        rt = runtime or await open_runtime(settings, read_only=read_only)
        app.state.runtime = rt
        app.state.settings = settings
        app.state.status_read_only = read_only
        try:
            yield
        finally:
            if runtime is None:
                await rt.storage.close()

    return Starlette(
        routes=ROUTES,
        exception_handlers={
            CAError: handle_ca_error,
            HTTPException: handle_http_error,
            Exception: handle_unexpected,
        },
        lifespan=lifespan,
    )
