"""Issue 10 part 2: failed UI sign-ins are limited per client IP (services/platform/rate_limits.py): past the
limit the sign-in page answers 429 with Retry-After, before the token is looked at."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from tests.test_serve import Server, trust

LIMITS = {"ui_signin_failures_per_ip": 2, "ui_signin_failures_window": 60, "api_token_failures_per_ip": 0}


def test_failed_sign_ins_are_limited_per_ip(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = Server(data_dir, environment={"ACME_SERVER_RATE_LIMITS": json.dumps(LIMITS)})
    try:
        with httpx.Client(base_url=server.url, verify=trust(data_dir)) as http:
            form = http.get("/ui/sign-in")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert form.status_code == 200 and csrf is not None

            def attempt() -> httpx.Response:
                return http.post("/ui/sign-in", data={"csrf": csrf.group(1), "token": "acme_wrong"})

            assert [attempt().status_code for _ in range(2)] == [401, 401]
            refused = attempt()
            assert refused.status_code == 429
            assert 1 <= int(refused.headers["retry-after"]) <= 60
            assert "text/html" in refused.headers["content-type"]
    finally:
        server.stop()
