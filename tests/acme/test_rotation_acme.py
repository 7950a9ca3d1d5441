"""A CA rotation seen over real HTTPS by an ACME client, on both engines: the certificate's renewalInfo
window (RFC 9773 §4.2) ends at its own stored moment within the spread, and a renewal ordered with
`replaces` (§5) comes from the new CA and counts as renewed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from acme_server.services.config import ca_creation
from acme_server.services.inventory import certificates
from acme_server.services.platform import bootstrap
from acme_server.services.renewal import ari, rotation, rotation_progress
from ca_core.jose import b64encode
from ca_core.renewal_info import cert_id
from ca_core.request import Subject
from tests.acme.client import certificates as parse_chain
from tests.acme.client import csr_der
from tests.acme.conftest import AcmeServer, wait_status
from tests.acme.test_renewal_info import issued, window_of

SPREAD = timedelta(hours=1)


async def test_rotation_moves_the_window_and_a_replacing_order_comes_from_the_new_ca(
    acme: AcmeServer,
) -> None:
    name = "rotated-fleet.example.internal"
    client, leaf, old_id = await issued(acme, name)
    await ca_creation.create_intermediate_ca(
        acme.rt, parent=bootstrap.ROOT_NAME, name="next", subject=Subject(common_name="Next Intermediate")
    )
    before = datetime.now(UTC).replace(microsecond=0)
    started = await rotation.start_rotation(acme.rt, bootstrap.INTERMEDIATE_NAME, to="next", spread=SPREAD)
    assert started.renewed == 0 and started.on_old >= 1  # ours, and the server's own HTTPS certificate
    start, end = await window_of(acme, client, leaf)
    stored = (await certificates.get_certificate(acme.rt, old_id)).metadata[ari.RENEWAL_REQUESTED]
    assert end == datetime.fromisoformat(stored) and before <= end <= datetime.now(UTC) + SPREAD
    assert start == end - timedelta(hours=1)
    created = await client.new_order(name, replaces=cert_id(leaf))
    assert created.status_code == 201, created.text
    order = {**created.json(), "url": created.headers["Location"]}
    await client.post(order["finalize"], {"csr": b64encode(csr_der(name))})
    done = await wait_status(client, order["url"], {"valid", "invalid"})
    assert done["status"] == "valid"
    renewed = parse_chain((await client.post(str(done["certificate"]))).text)[0]
    assert renewed.issuer.rfc4514_string() == "CN=Next Intermediate"
    progress = await rotation_progress.rotation_status(acme.rt, bootstrap.INTERMEDIATE_NAME)
    assert (progress.on_old, progress.renewed, progress.not_renewing) == (started.on_old - 1, 1, 0)
