"""Issue 10 part 2: wrong API tokens are limited per client IP (services/platform/rate_limits.py): past the
limit every attempt is 429 with Retry-After — a right token too, so guessing gains nothing."""

from __future__ import annotations

import dataclasses

from acme_server.config import Limit
from tests.api.conftest import CM, ApiServer

WRONG = {"Authorization": "Bearer acme_wrong"}


async def test_wrong_api_tokens_are_limited_per_ip_and_then_even_a_right_one_waits(api: ApiServer) -> None:
    limits = api.rt.rate_limits
    api.rt.rate_limits = dataclasses.replace(limits, api_token_failures_per_ip=Limit(2, 60))
    try:
        for _ in range(2):
            wrong = await api.request("GET", f"{CM}/cas", role=None, headers=WRONG)
            assert wrong.status_code == 401
        refused = await api.request("GET", f"{CM}/cas", role=None, headers=WRONG)
        assert refused.status_code == 429
        assert refused.json()["type"] == "urn:acme-server:problem:rate-limited"
        assert "api_token_failures_per_ip" in refused.json()["detail"]
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        right = await api.request("GET", f"{CM}/cas")
        assert right.status_code == 429
    finally:
        api.rt.rate_limits = limits
    assert (await api.request("GET", f"{CM}/cas")).status_code == 200
