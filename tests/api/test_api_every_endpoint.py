"""Every operation in the route table was called by the suite at least once with success and once with
an error (skipped when only part of tests/api ran). It runs after every other test of the session:
tests/api/conftest.py moves it to the end at collection, whatever the files' order."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from acme_server.api.routes import ENDPOINTS
from tests.api.exercised import EXERCISED

HERE = Path(__file__).parent


def _pattern(path: str) -> re.Pattern[str]:
    return re.compile("/api/v1" + re.sub(r"{[^}]+}", "[^/]+", path) + "$")


def test_every_endpoint_was_called_with_success_and_with_an_error(request: pytest.FixtureRequest) -> None:
    ran = {Path(str(item.path)).name for item in request.session.items}
    modules = {path.name for path in HERE.glob("test_api_*.py")}
    if not modules <= ran:
        pytest.skip("only part of tests/api ran")
    missing = []
    for endpoint in ENDPOINTS:
        pattern = _pattern(endpoint.path)
        statuses = {
            status for method, status, path in EXERCISED if method == endpoint.method and pattern.match(path)
        }
        if not any(status < 400 for status in statuses):
            missing.append(f"{endpoint.method} {endpoint.path}: never succeeded")
        if endpoint.role is not None and not any(status >= 400 for status in statuses):
            missing.append(f"{endpoint.method} {endpoint.path}: no error path")
    assert missing == [], "\n".join(missing)
