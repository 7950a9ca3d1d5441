"""Durations as operators write them: "90d", "12h", "30m", "45s", "1y", "1y6d" (a year is 365 days)."""

from __future__ import annotations

import re
from datetime import timedelta

from ca_core.errors import InvalidSetting

_UNITS = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)([ywdhms])")


def parse_duration(text: str, *, field: str = "ttl") -> timedelta:
    """Parse "30d" / "1y" / "12h30m"; raise InvalidSetting naming `field` on anything else."""
    cleaned = text.strip().lower()
    if not cleaned or _PART.sub("", cleaned):
        raise InvalidSetting(field, f"{text!r} is not a duration like '30d', '12h' or '1y'")
    seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(cleaned))
    if seconds <= 0:
        raise InvalidSetting(field, f"{text!r} must be longer than zero")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest exact form: 90 days -> "90d", 36 hours -> "36h", 1 year -> "365d"."""
    seconds = int(value.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"
