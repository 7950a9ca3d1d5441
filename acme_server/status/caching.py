"""HTTP cache lifetimes for status objects: cache for a few minutes, never past the object's own
nextUpdate (RFC 5019 §6.2 max-age guidance)."""

from __future__ import annotations

from datetime import datetime

MAX_AGE = 300  # seconds: how stale a cached CRL or OCSP answer may get after a revocation


def cache_control(now: datetime, next_update: datetime) -> str:
    remaining = int((next_update - now).total_seconds())
    return f"public, max-age={max(0, min(MAX_AGE, remaining))}, no-transform"
