"""The Prometheus metrics of the server (docs/operations.md "Metrics") and their exposition, in one
process or, under `serve --workers N`, aggregated over the worker processes' files in the private
directory that `serve` names in PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess mode)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # the text exposition format Prometheus reads

# Seconds: from a loopback check (milliseconds) to a slow DNS server or a 10 s network timeout.
_VALIDATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# Seconds: an EC signature takes well under a millisecond, an RSA-4096 one tens of milliseconds.
_ISSUANCE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)

REQUESTS = Counter(
    "acme_server_http_requests", "HTTP requests answered, by route name and status", ["route", "status"]
)
ORDERS = Counter(
    "acme_server_acme_orders",
    "ACME orders by outcome: created, valid (certificate issued), invalid (issuance failed), "
    "abandoned (left processing, failed by recovery)",
    ["outcome"],
)
VALIDATIONS = Counter(
    "acme_server_validations", "Challenge validations by type and outcome", ["challenge_type", "outcome"]
)
VALIDATION_SECONDS = Histogram(
    "acme_server_validation_duration_seconds",
    "How long the VA took for one challenge, by type and outcome",
    ["challenge_type", "outcome"],
    buckets=_VALIDATION_BUCKETS,
)
ISSUANCE_SECONDS = Histogram(
    "acme_server_issuance_duration_seconds",
    "ACME finalize: signing and storing the certificate (from ready to valid)",
    buckets=_ISSUANCE_BUCKETS,
)
RENEWALS = Counter("acme_server_renewals", "Server-driven renewal attempts by outcome", ["outcome"])
SYNC_FAILURES = Counter("acme_server_sync_push_failures", "Failed sync pushes, by sync name", ["sync"])
SYNC_RETRIES = Counter(
    "acme_server_sync_push_retries",
    "Failed queued sync pushes queued again with back-off, by sync name",
    ["sync"],
)
BAD_NONCES = Counter(
    "acme_server_bad_nonces",
    "Nonces refused with badNonce, by reason: malformed, foreign, expired, replay, reset",
    ["reason"],
)
# Per process, summed over the live workers.
DB_POOL = Gauge(
    "acme_server_db_pool_connections",
    "Database connections of this server's pools by pool (write, read) and state (in_use, idle, size)",
    ["pool", "state"],
    multiprocess_mode="livesum",
)


class RequestTally:
    """The hot path's one counter: a dict increment per request, no lock (every increment runs on the
    worker's event loop thread). `flush` moves the counts into REQUESTS, at each scrape and
    periodically (app.py), which is when prometheus_client's own locks are taken."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}

    def count(self, route: str, status: int) -> None:
        key = (route, status)
        self.counts[key] = self.counts.get(key, 0) + 1

    def flush(self) -> None:
        counts, self.counts = self.counts, {}
        for (route, status), n in counts.items():
            REQUESTS.labels(route, str(status)).inc(n)


TALLY = RequestTally()


@dataclass(frozen=True)
class Expiring:
    """Active certificates of one CA and profile that expire within 7 and within 30 days."""

    ca: str
    profile: str
    within_7_days: int
    within_30_days: int


def record_pool(pool: str, *, in_use: int, idle: int, size: int) -> None:
    DB_POOL.labels(pool, "in_use").set(in_use)
    DB_POOL.labels(pool, "idle").set(idle)
    DB_POOL.labels(pool, "size").set(size)


class _ScrapeFigures(Collector):
    """Figures read from the database for this one scrape (never stored in a process's files, so a
    CA or profile that no longer has expiring certificates simply disappears)."""

    def __init__(self, expiring: Sequence[Expiring]) -> None:
        self.expiring = expiring

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "acme_server_certificates_expiring",
            "Active certificates expiring within the window (7d, 30d), by issuing CA and profile",
            labels=["ca", "profile", "within"],
        )
        for row in self.expiring:
            family.add_metric([row.ca, row.profile, "7d"], row.within_7_days)
            family.add_metric([row.ca, row.profile, "30d"], row.within_30_days)
        yield family


def exposition(multiprocess_dir: str | None, expiring: Sequence[Expiring]) -> bytes:
    """The text exposition: this process's metrics, or every worker's under multiprocess mode, then
    the figures read at scrape time."""
    TALLY.flush()
    if multiprocess_dir is None:
        own = generate_latest(REGISTRY)
    else:
        aggregated = CollectorRegistry()
        MultiProcessCollector(aggregated, path=multiprocess_dir)  # type: ignore[no-untyped-call]
        own = generate_latest(aggregated)
    scrape = CollectorRegistry()
    scrape.register(_ScrapeFigures(expiring))
    return own + generate_latest(scrape)
