"""An ASGI app served by uvicorn inside the test's event loop on loopback, for tests that speak real
HTTP to it (tests/acme, tests/api)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from starlette.types import ASGIApp


@asynccontextmanager
async def serving(app: ASGIApp, port: int, **options: Any) -> AsyncIterator[None]:
    """Serve `app` on 127.0.0.1:`port` (lifespan on; `options` go to uvicorn.Config, e.g. TLS files)
    until the block ends."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task
