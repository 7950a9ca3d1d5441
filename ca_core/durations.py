"""Durations as operators write them: "90d", "12h", "30m", "45s", "1y", "1y6d" (a year is 365 days,
a week 7 days); parsed into timedelta and formatted back in the shortest exact form. Every duration a
user gives is bounded here (longer than zero, at most 100 years), and `expiry` turns one into a datetime
that never passes 9999-12-31, the last date X.509 GeneralizedTime and Python's datetime can hold."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

from ca_core.errors import InvalidSetting

# A ceiling well past any sensible certificate or token lifetime, so start + duration stays a date.
LONGEST: Final = timedelta(days=100 * 365)
# RFC 5280 §4.1.2.5: notAfter 99991231235959Z is the latest time there is; datetime.max is the same day.
LATEST: Final = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
_UNITS: Final = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
# Largest unit first, each at most once: "1d12h" but neither "12h1d" nor "1d1d"; 15 digits is more
# than timedelta holds, and keeps int() away from its digit limit.
_DURATION: Final = re.compile("".join(rf"(?:(?P<{unit}>[0-9]{{1,15}}){unit})?" for unit in _UNITS))


def parse_duration(text: str, *, field: str = "ttl") -> timedelta:
    """Parse "30d" / "1y" / "12h30m" (case and surrounding spaces ignored) into a positive timedelta;
    raise InvalidSetting naming `field` on anything else, zero, or longer than LONGEST (100 years)."""
    cleaned = text.strip().lower()
    match = _DURATION.fullmatch(cleaned)
    if not cleaned or match is None:
        raise InvalidSetting(field, f"{text!r} is not a duration like '30d', '12h30m' or '1y'")
    seconds = sum(int(n) * _UNITS[unit] for unit, n in match.groupdict().items() if n is not None)
    if seconds <= 0:
        raise InvalidSetting(field, f"{text!r} must be longer than zero")
    if seconds > LONGEST.total_seconds():
        raise InvalidSetting(field, f"{text!r} is too long: at most {format_duration(LONGEST)} (100 years)")
    return timedelta(seconds=seconds)


def expiry(start: datetime, duration: timedelta, *, field: str) -> datetime:
    """`start` + `duration`, refusing (InvalidSetting naming `field`) a duration of zero or less, one
    longer than LONGEST, or an end past LATEST: a user's duration never overflows a datetime."""
    if duration <= timedelta(0):
        raise InvalidSetting(field, "must be longer than zero")
    if duration > LONGEST:
        raise InvalidSetting(field, f"must be at most {format_duration(LONGEST)} (100 years)")
    if start > LATEST - duration:
        raise InvalidSetting(field, f"would end after {LATEST:%Y-%m-%d}, the latest date there is")
    return start + duration


def format_duration(value: timedelta) -> str:
    """The shortest exact form in one unit: 90 days -> "90d", 36 hours -> "36h", 1 year -> "365d".
    Fractions of a second are dropped."""
    seconds = int(value.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"
