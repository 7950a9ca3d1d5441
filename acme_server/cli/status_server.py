"""`acme-server status-server`: the read-only status sidecar (CRLs, OCSP, renewalInfo) over plain HTTP
on the shared database; run as many replicas as relying parties need."""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

import uvicorn

from acme_server.cli.common import FAST_SERVER, add_setting_flags, settings_options
from acme_server.config import Settings, load_settings, split_listen
from acme_server.services.config import cas
from acme_server.services.runtime import open_runtime
from acme_server.sidecar import create_status_app

DEFAULT_LISTEN = "127.0.0.1:14080"


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "status-server",
        help="serve CRLs, OCSP and renewalInfo read-only from the shared database (plain HTTP)",
        parents=[settings_options()],
    )
    parser.add_argument("--listen", dest="status_bind", metavar="HOST:PORT", help=f"default {DEFAULT_LISTEN}")
    parser.add_argument(
        "--database-url", dest="database", default=argparse.SUPPRESS, help="the same as --database"
    )
    add_setting_flags(parser, "status-server")


async def _check(settings: Settings) -> None:
    """Fail with one line before listening: the schema must be current, the KEK present, and CA keys
    kept in a token reachable with the configured PIN."""
    rt = await open_runtime(settings, read_only=True)
    try:
        await cas.check_token_keys(rt)
    finally:
        await rt.storage.close()


def run(args: argparse.Namespace) -> int:
    settings = load_settings(vars(args), os.environ)
    host, port = split_listen(args.status_bind or DEFAULT_LISTEN)
    asyncio.run(_check(settings))
    print(f"acme-server status-server listening on http://{host}:{port}", flush=True)
    print("  serving: /crl/<ca>.crl|.pem, /ocsp, /acme/renewal-info/<certID> (read-only)", flush=True)
    print(f"  database: {settings.database_url}", flush=True)
    uvicorn.run(
        create_status_app(settings, read_only=True),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        **FAST_SERVER,
    )
    return 0
