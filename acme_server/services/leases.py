"""Holding a database lease (ARCHITECTURE rule 13): a named job runs in one worker or replica at a time.
The one acquire / poll / release loop of the services; storage/leases.py owns the atomic statements."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Final

from acme_server.services.runtime import Runtime

POLL_SECONDS: Final = 0.2

log = logging.getLogger(__name__)


@asynccontextmanager
async def hold(
    rt: Runtime,
    name: str,
    *,
    ttl: timedelta,
    wait: float | None = 0.0,
    holder: str | None = None,
    poll: float = POLL_SECONDS,
) -> AsyncIterator[bool]:
    """Hold lease `name` for the block; yields whether it is held. `wait`: seconds to keep trying
    (0: one try, None: until it is free). A held lease is released when the block ends, however it
    ends; a holder that dies keeps it until `ttl` runs out, then another takes it over."""
    holder = holder or uuid.uuid4().hex
    loop = asyncio.get_running_loop()
    deadline = None if wait is None else loop.time() + wait
    while True:
        async with rt.storage.transaction() as tx:
            held = await tx.leases.try_acquire(name, holder, now=rt.clock.now(), ttl=ttl)
        if held or (deadline is not None and loop.time() + poll > deadline):
            break
        await asyncio.sleep(poll)
    try:
        yield held
    finally:
        if held:
            await _release(rt, name, holder)


async def _release(rt: Runtime, name: str, holder: str) -> None:
    try:
        async with rt.storage.transaction() as tx:
            released = await tx.leases.release(name, holder)
    except OSError:  # the database away for a moment: the lease runs out at its ttl, as after a crash
        log.warning("lease %s: not released (database unavailable); it runs out at its ttl", name)
        return
    if not released:
        log.warning("lease %s was no longer ours at release (it ran out and was taken over)", name)
