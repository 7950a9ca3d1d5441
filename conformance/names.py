"""Test DNS names: fresh per scenario, so no scenario reuses another's authorizations; all under
example.com (RFC 2606), which only pebble-challtestsrv ever answers here."""

from __future__ import annotations

import secrets


class Names:
    def new(self, label: str) -> str:
        return f"{label}-{secrets.token_hex(4)}.example.com"
