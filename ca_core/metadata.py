"""Metadata as people type it: "key=value" items (CLI options, query parameters, form fields) read
into one mapping, the same way at every edge."""

from __future__ import annotations

from collections.abc import Iterable

from ca_core.errors import InvalidSetting


def parse_pairs(items: Iterable[str], *, field: str) -> dict[str, str]:
    """["team=payments", "env=prod"] -> {"team": "payments", "env": "prod"}; keys and values are
    stripped, a later key wins; an item without "=" or with an empty key is an InvalidSetting naming
    `field`."""
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidSetting(field, f"{item!r}: use key=value")
        pairs[key.strip()] = value.strip()
    return pairs
