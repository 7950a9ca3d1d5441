"""`acme-server serve`: bootstrap the dev setup on an empty data directory, then run uvicorn over HTTPS."""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

import uvicorn

from acme_server.app import SETTINGS_ENV, settings_to_environment
from acme_server.cli.common import settings_options
from acme_server.config import Settings, load_settings
from acme_server.services import bootstrap
from acme_server.services.bootstrap import TLSFiles
from acme_server.services.runtime import open_runtime


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "serve", help="run the server (bootstraps a dev CA on first start)", parents=[settings_options()]
    )
    parser.add_argument("--listen", help="HOST:PORT (env ACME_SERVER_LISTEN, default 127.0.0.1:14000)")
    parser.add_argument("--workers", help="worker processes (env ACME_SERVER_WORKERS, default 1)")
    parser.add_argument(
        "--base-url", help="public base URL (env ACME_SERVER_BASE_URL; default from --listen)"
    )
    parser.add_argument("--http01-port", help="port the VA connects to for http-01 (default 80)")
    parser.add_argument("--tlsalpn01-port", help="port the VA connects to for tls-alpn-01 (default 443)")
    parser.add_argument(
        "--dns-resolver", help="HOST:PORT of the DNS server for validation (default: the system's)"
    )
    parser.add_argument(
        "--eab-required",
        action="store_const",
        const=True,
        default=None,
        help="newAccount needs an external account binding (env ACME_SERVER_EAB_REQUIRED)",
    )
    parser.add_argument("--terms-of-service", help="URL shown as the directory's termsOfService")
    parser.add_argument("--website", help="URL shown as the directory's website")
    parser.add_argument(
        "--caa-identities",
        metavar="DOMAINS",
        help="comma-separated CAA issuer domains of this CA: shown in the directory and checked (RFC 8659)",
    )
    parser.add_argument("--validation-timeout", metavar="SECONDS", help="per network step (default 10)")
    parser.add_argument(
        "--blocked-networks",
        metavar="CIDRS",
        help="comma-separated networks validation never connects to (default 169.254.0.0/16,fe80::/10)",
    )
    parser.add_argument(
        "--renewal-interval",
        metavar="SECONDS",
        help="seconds between auto-renewal passes (env ACME_SERVER_RENEWAL_INTERVAL, default 300; 0: off)",
    )
    parser.add_argument(
        "--test-nonce-reject-rate",
        metavar="RATE",
        help="client testing aid: refuse this share (0..1) of valid nonces with badNonce (default 0)",
    )
    parser.add_argument(
        "--test-validation-delay",
        metavar="SECONDS",
        help="client testing aid: wait this long before each challenge validation (default 0)",
    )


async def prepare(settings: Settings) -> TLSFiles:
    """Everything that must exist before workers start: schema, CAs, the HTTPS cert, the trust bundle."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    rt = await open_runtime(settings)
    try:
        await bootstrap.ensure_dev_setup(rt)
        files = await bootstrap.ensure_server_tls(rt, settings.tls_dir, settings.host)
        await bootstrap.write_trust_bundle(rt, settings.root_bundle_path)
        return files
    finally:
        await rt.storage.close()


def run(args: argparse.Namespace) -> int:
    settings = load_settings(vars(args), os.environ)
    files = asyncio.run(prepare(settings))
    print(f"acme-server listening on {settings.public_url} ({settings.workers} worker(s))", flush=True)
    print(f"  ACME directory: {settings.directory_url}", flush=True)
    print(f"  trust bundle:   {settings.root_bundle_path.resolve()}", flush=True)
    print(f"  database:       {settings.database_url}", flush=True)
    os.environ[SETTINGS_ENV] = settings_to_environment(settings)
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
    )
    return 0
