"""What a metrics scrape reads from storage (docs/operations.md "Metrics"): certificates expiring
within 7 and 30 days per CA and profile (one GROUP BY on the not_after index), and the connection
pools of this process."""

from __future__ import annotations

from datetime import timedelta

from acme_server.observability import metrics
from acme_server.services.runtime import Runtime

SOON, LATER = timedelta(days=7), timedelta(days=30)


async def expiring_certificates(rt: Runtime) -> list[metrics.Expiring]:
    now = rt.clock.now()
    async with rt.storage.read() as tx:
        rows = await tx.certificates.count_expiring(now, now + SOON, now + LATER)
    return [metrics.Expiring(r.ca, r.profile, r.soon, r.later) for r in rows]


def record_pools(rt: Runtime) -> None:
    """This process's pools into the DB_POOL gauges (summed over the live workers)."""
    for usage in rt.storage.pool_usage():
        metrics.record_pool(usage.pool, in_use=usage.in_use, idle=usage.idle, size=usage.size)
