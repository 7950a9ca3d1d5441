"""Issue 10 part 2: a rate limit holds across replicas (docs/security.md "Rate limits"). Two real
`acme-server serve` replicas on one PostgreSQL database count into the same counter rows, so requests
sent to either count against one limit. PostgreSQL only: replicas need a shared database; skipped
without one, failed under ACME_REQUIRE_POSTGRES=1."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.acme.client import Client
from tests.replicas import Replicas, two_replicas

pytestmark = pytest.mark.postgres

ERR = "urn:ietf:params:acme:error:"
# The longest window there is, so that the test's requests all fall into one fixed window.
LIMITS = {"new_accounts_per_ip": 3, "new_accounts_window": 7 * 86400}


@pytest.fixture
async def replicas(tmp_path: Path, _postgres_server: str) -> AsyncIterator[Replicas]:
    environment = {"ACME_SERVER_RATE_LIMITS": json.dumps(LIMITS), "ACME_SERVER_RENEWAL_INTERVAL": "0"}
    async with two_replicas(tmp_path, _postgres_server, environment) as running:
        yield running


async def test_new_accounts_per_ip_count_requests_to_both_replicas(replicas: Replicas) -> None:
    context = ssl.create_default_context(cafile=str(replicas.target.trust_bundle))
    async with httpx.AsyncClient(verify=context, timeout=60) as http:

        async def register(replica: int) -> httpx.Response:
            client = await Client(http, replicas.target.directory_url).load()
            url = client.directory["newAccount"]
            return await client.post(
                replicas.direct(url, replica),
                {"termsOfServiceAgreed": True},
                use_jwk=True,
                header_url=url,
            )

        assert [(await register(0)).status_code for _ in range(2)] == [201, 201]
        assert (await register(1)).status_code == 201  # the third of three, on the other replica
        for replica in (1, 0):  # the fourth is refused by either
            refused = await register(replica)
            assert refused.status_code == 429, refused.text
            assert refused.json()["type"] == ERR + "rateLimited"
            assert "new_accounts_per_ip" in refused.json()["detail"]
            assert int(refused.headers["retry-after"]) >= 1
    assert await replicas.rows("SELECT count(*) FROM acme_accounts") == [(3,)]
