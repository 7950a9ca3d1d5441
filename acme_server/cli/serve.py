"""`acme-server serve`: bootstrap the dev setup on an empty data directory, then run uvicorn over HTTPS."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import threading
import time
from typing import Any

import uvicorn

from acme_server.app import MULTIPROC_ENV, SETTINGS_ENV
from acme_server.cli.common import FAST_SERVER, add_setting_flags, settings_options
from acme_server.config import Settings, load_settings, to_environment
from acme_server.errors import ConfigError
from acme_server.observability.logs import configure_logging
from acme_server.services.config import cas
from acme_server.services.platform import bootstrap
from acme_server.services.platform.bootstrap import TLSFiles
from acme_server.services.runtime import Runtime, open_runtime
from acme_server.sidecar import create_status_app


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "serve", help="run the server (bootstraps a dev CA on first start)", parents=[settings_options()]
    )
    add_setting_flags(parser, "serve")


async def prepare(settings: Settings) -> tuple[TLSFiles, list[str]]:
    """Everything that must exist before workers start: schema, CAs, the HTTPS cert, the trust bundle;
    and the warnings to print after the banner."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    rt = await open_runtime(settings)
    try:
        await cas.check_token_keys(rt)
        await bootstrap.ensure_dev_setup(rt)
        files = await bootstrap.ensure_server_tls(rt, settings.tls_dir, settings.host)
        await bootstrap.write_trust_bundle(rt, settings.root_bundle_path)
        return files, await unserved_status_warnings(rt, settings)
    finally:
        await rt.storage.close()


async def unserved_status_warnings(rt: Runtime, settings: Settings) -> list[str]:
    """The CRL and OCSP URLs certificates name are CA settings (docs/status.md): one warning per CA
    whose URL this server does not serve, since relying parties would not reach it here."""
    served = settings.status_public_url
    unserved = await cas.unserved_status_urls(rt, (served, settings.public_url))
    return [
        f"warning: CA {ca.name}: its certificates name {ca.settings.status_url} for CRLs and OCSP, which "
        f"this server does not serve (its status URL is {served}); if relying parties reach it there "
        f"now: acme-server ca update {ca.name} --status-url {served}"
        for ca in unserved
    ]


def run(args: argparse.Namespace) -> int:
    settings = load_settings(vars(args), os.environ)
    files, warnings = asyncio.run(prepare(settings))
    status = start_status_listener(settings, explicit=settings.status_listen is not None)
    print(f"acme-server listening on {settings.public_url} ({settings.workers} worker(s))", flush=True)
    print(f"  ACME directory: {settings.directory_url}", flush=True)
    print(f"  trust bundle:   {settings.root_bundle_path.resolve()}", flush=True)
    print(f"  database:       {settings.database_url}", flush=True)
    print(f"  status (CRL, OCSP): {settings.status_public_url}", flush=True)
    for warning in warnings:  # after the banner, which supervisors and tests read first
        print(warning, file=sys.stderr, flush=True)
    # After the banner (the first lines a supervisor or test reads); the status listener and, with
    # one worker, the server itself log through it.
    configure_logging(settings.log_level, settings.log_format)
    os.environ[SETTINGS_ENV] = to_environment(settings)
    metrics_dir = _multiprocess_metrics(settings.workers)
    try:
        uvicorn.run(
            "acme_server.app:app_from_environment",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            ssl_certfile=str(files.certificate),
            ssl_keyfile=str(files.key),
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=settings.shutdown_grace,
            **FAST_SERVER,
        )
    finally:
        if status is not None:
            status.stop()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _multiprocess_metrics(workers: int) -> str | None:
    """Several workers: a fresh private directory for prometheus_client's multiprocess files, named
    in the environment the workers inherit (they import prometheus_client after it is set), removed
    when the server stops. One worker keeps its metrics in memory; a stray variable is dropped."""
    os.environ.pop(MULTIPROC_ENV, None)
    if workers == 1:
        return None
    directory = tempfile.mkdtemp(prefix="acme-server-metrics-")  # mode 0700
    os.environ[MULTIPROC_ENV] = directory
    return directory


class StatusListener:
    """The plain-HTTP status app in a thread of the main process, beside uvicorn's HTTPS server (or
    its worker supervisor): relying parties fetch CRL and OCSP URLs over http (RFC 5280 §4.2.1.13),
    which the HTTPS listener cannot serve."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread) -> None:
        self.server = server
        self.thread = thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def start_status_listener(settings: Settings, *, explicit: bool) -> StatusListener | None:
    """Start the listener and wait until it is bound. An explicit --status-listen that cannot bind is
    an error; the derived default (port + 80) only warns, so a taken port never stops the server."""
    address = settings.status_address
    if address is None:
        return None
    config = uvicorn.Config(
        create_status_app(settings, read_only=False),
        host=address[0],
        port=address[1],
        log_level="warning" if explicit else "critical",
        access_log=False,
        lifespan="on",
        **FAST_SERVER,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="status-listener", daemon=True)
    thread.start()
    while thread.is_alive() and not server.started:
        time.sleep(0.02)
    if server.started:
        return StatusListener(server, thread)
    where = f"{address[0]}:{address[1]}"
    if explicit:
        raise ConfigError(f"status_listen: cannot listen on {where}")
    print(f"warning: no status listener: cannot listen on {where}; give --status-listen", file=sys.stderr)
    return None
