"""Nothing stalls under concurrency: 16 clients run the whole flow at once against one server (Pebble
2.4.0 deadlocks at concurrency 16 on two cores). A correctness test with a generous bound, not a
timing assertion: it fails only if the server hangs."""

from __future__ import annotations

import asyncio

from acme_server.services.inventory import certificates
from acme_server.services.inventory.certificates import CertificateFilter
from tests.acme.conftest import AcmeServer
from tests.acme.test_issuance_flow import _issue


async def test_sixteen_clients_at_once_all_get_their_certificates(acme: AcmeServer) -> None:
    names = [f"c{i}.load.example.internal" for i in range(16)]
    results = await asyncio.wait_for(asyncio.gather(*(_issue(acme, name) for name in names)), timeout=180)
    assert all(order["status"] == "valid" for _, order, _ in results)
    found, total = await certificates.list_certificates(
        acme.rt, CertificateFilter(search=".load.example.internal")
    )
    assert total == 16 and sorted(c.common_name for c in found) == sorted(names)
