"""(method, status, path) of every request the API suite made; test_api_every_endpoint.py reads it.
Its own module, so that pytest's copy of conftest and the tests' imports of it share one set."""

from __future__ import annotations

EXERCISED: set[tuple[str, int, str]] = set()
