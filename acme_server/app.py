"""create_app(settings) -> Starlette: the route table, middleware, the CAError problem handler, and a
lifespan that opens storage and starts this worker's validation loop."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from acme_server.acme import links
from acme_server.acme.in_flight import InFlightBound
from acme_server.acme.problems import (
    handle_ca_error,
    handle_client_disconnect,
    handle_http_error,
    handle_unexpected,
)
from acme_server.acme.routes import ROUTES as ACME_ROUTES
from acme_server.acme.routes import AcmeHeaders
from acme_server.api.metrics import get_metrics
from acme_server.api.routes import api_mount
from acme_server.config import Settings, from_environment
from acme_server.observability import logs, metrics
from acme_server.services.acme import challenges, finalize
from acme_server.services.acme.nonces import Nonces
from acme_server.services.config import cas
from acme_server.services.delivery import pushes
from acme_server.services.platform import audit
from acme_server.services.platform import metrics as scrape
from acme_server.services.ports import Validator
from acme_server.services.renewal import scheduler
from acme_server.services.runtime import Runtime, listen_hosts, open_runtime
from acme_server.services.status import crl_updater
from acme_server.status import health, trust
from acme_server.status.routes import ROUTES as STATUS_ROUTES
from acme_server.ui.routes import ROUTES as UI_ROUTES
from acme_server.validation import NetworkValidator
from acme_server.validation.blocklist import listening_addresses
from acme_server.validation.settings import ValidationSettings
from ca_core.errors import CAError

SETTINGS_ENV = "ACME_SERVER__SETTINGS"  # how `serve` hands validated settings to uvicorn workers
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's multiprocess mode (cli/serve.py)

access_log = logging.getLogger("acme_server.access")


class RequestLog:
    """Per request: its id (X-Request-ID accepted when well-formed, else made; sent back in the
    header, and in 5xx problem documents), one access log line (method, path, route name, status,
    duration), and the request counter's one lock-free increment (observability/metrics.py TALLY).
    A pure ASGI middleware, so it costs nothing on the hot path beyond those."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        request_id = logs.request_id_from(_header(scope, b"x-request-id"))
        logs.REQUEST_ID.set(request_id)  # not reset: the outermost error handler still reads it
        id_header = (b"x-request-id", request_id.encode())

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            # The route's *name* (never the raw path: bounded label values); the innermost one
            # when mounted (the API's names are its path templates).
            route = getattr(scope.get("route"), "name", None) or "unmatched"
            metrics.TALLY.count(route, status)
            if access_log.isEnabledFor(logging.INFO):
                ms = round((time.perf_counter() - started) * 1000, 2)
                fields = {"method": scope["method"], "path": scope["path"], "route": route}
                access_log.info(
                    "%s %s %d",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={"fields": {**fields, "status": status, "ms": ms}, "request_id": request_id},
                )


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value  # type: ignore[no-any-return]
    return None


ROUTES: list[BaseRoute] = [
    Route("/healthz", health.healthz, name="health"),
    Route("/readyz", health.readyz, name="ready"),
    Route("/metrics", get_metrics, name="metrics", methods=["GET"]),
    *STATUS_ROUTES,  # CRLs and OCSP; also on the plain-HTTP status listener (sidecar.py)
    Route("/roots.pem", trust.roots_bundle, name="roots"),
    Route("/roots/{index:int}", trust.root, name="root"),
    Route("/ca/{ca}.pem", trust.ca_bundle, name="ca_bundle"),
    *ACME_ROUTES,
    *UI_ROUTES,
    api_mount(),  # /api/v1
]


def validation_settings(settings: Settings) -> ValidationSettings:
    return ValidationSettings(
        http01_port=settings.http01_port,
        tlsalpn01_port=settings.tlsalpn01_port,
        dns_resolver=settings.resolver_address,
        caa_identities=settings.caa_identities,
        timeout=settings.validation_timeout,
        blocked_networks=settings.blocked_network_list or (),
        allow_loopback=settings.validation_allow_loopback,
        block_private=settings.block_private,
        # Resolved once at start: the VA must not be a way to reach the server itself.
        own_addresses=listening_addresses(listen_hosts(settings)),
    )


METRICS_FLUSH_INTERVAL = 5.0  # seconds: how stale another worker's request counts may be in a scrape


async def _flush_metrics(rt: Runtime, stop: asyncio.Event) -> None:
    """Under multiprocess mode each worker writes its request counts and pool figures to its files
    every few seconds, for whichever worker answers the scrape (which flushes its own at once)."""
    while not stop.is_set():
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), METRICS_FLUSH_INTERVAL)
        metrics.TALLY.flush()
        scrape.record_pools(rt)


def create_app(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    validator: Validator | None = None,
    metrics_dir: str | None = None,
) -> Starlette:
    """The ASGI app. With `runtime` given (tests), the caller owns storage; otherwise the lifespan
    opens and closes it. `validator` defaults to the network VA built from the settings.
    `metrics_dir`: prometheus_client's multiprocess directory when `serve` runs several workers."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        logs.configure_logging(settings.log_level, settings.log_format)
        rt = runtime or await open_runtime(settings)
        if runtime is None:  # each worker process logs in to its CA tokens now, off the event loop
            await cas.check_token_keys(rt)
        app.state.metrics_dir = metrics_dir
        rt.rate_limits = settings.rate_limits  # the served settings decide, a given runtime too
        rt.issuer_domain_names = settings.caa_identities
        rt.account_url_template = links.account_url_template(app, rt.public_url)
        rt.account_hash_prefix = links.account_hash_prefix(rt.public_url)
        app.state.runtime = rt
        app.state.settings = settings
        app.state.nonces = Nonces(rt.kek)
        app.state.url_templates = {}  # acme/links.py url_for
        network = NetworkValidator(validation_settings(settings)) if validator is None else None
        stop = asyncio.Event()
        worker = asyncio.create_task(
            challenges.run_worker(rt, validator or network, stop, delay=settings.test_validation_delay)  # type: ignore[arg-type]
        )
        # A finalize cut short by a crash is failed once its lease ran out: a pass at start-up, then
        # periodically, in every worker and replica (one conditional UPDATE each).
        tasks = [worker, asyncio.create_task(finalize.run_recovery(rt, stop))]
        # Sync pushes queued by issuances (here or in another process) leave the request path.
        tasks.append(asyncio.create_task(pushes.run_push_worker(rt, stop)))
        if settings.renewal_interval > 0:
            tasks.append(
                asyncio.create_task(scheduler.run_scheduler(rt, stop, interval=settings.renewal_interval))
            )
        retention = settings.audit_retention_period
        if retention is not None:  # about once a day across workers and replicas (services/platform/audit.py)
            tasks.append(asyncio.create_task(audit.run_pruner(rt, stop, retention)))
        if metrics_dir is not None:
            tasks.append(asyncio.create_task(_flush_metrics(rt, stop)))
        crl_task = asyncio.create_task(crl_updater.run_updater(rt, stop))
        try:
            yield
        finally:
            stop.set()
            rt.wake_validators()
            rt.wake_pushers()
            for task in tasks:
                with suppress(asyncio.CancelledError, TimeoutError):  # wait_for cancelled a slow one
                    await asyncio.wait_for(task, 5)
            with suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(crl_task, 30)  # a large CRL may be mid-signature
            if network is not None:
                await network.aclose()
            if runtime is None:
                await rt.storage.close()

    return Starlette(
        routes=ROUTES,
        # Outermost first: the in-flight bound's 503 passes AcmeHeaders (Replay-Nonce, Link) and the log.
        middleware=[
            Middleware(RequestLog),
            Middleware(AcmeHeaders),
            Middleware(InFlightBound, limit=settings.max_in_flight),
        ],
        exception_handlers={
            CAError: handle_ca_error,
            HTTPException: handle_http_error,
            ClientDisconnect: handle_client_disconnect,
            Exception: handle_unexpected,
        },
        lifespan=lifespan,
    )


def app_from_environment() -> Starlette:
    """uvicorn's factory for `serve --workers N`: each worker rebuilds the settings `serve` validated."""
    settings = from_environment(os.environ[SETTINGS_ENV])
    # serve names the multiprocess directory (prometheus_client reads the same variable on import).
    return create_app(settings, metrics_dir=os.environ.get(MULTIPROC_ENV))
