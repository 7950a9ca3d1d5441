"""After a rotation the disabled old CA's CRL is published until the last certificate it signed expires,
then no longer (services/status/crls.py is_retired), and `rotation status` says which; on SQLite and
PostgreSQL, the certificates' notAfter moved into the past by the services' own clock."""

from __future__ import annotations

from datetime import timedelta

from acme_server.services import issuance
from acme_server.services.config import cas
from acme_server.services.inventory import edits
from acme_server.services.platform import bootstrap
from acme_server.services.renewal import rotation, rotation_progress
from acme_server.services.runtime import Runtime
from acme_server.services.status import crl_updater, crls
from ca_core.revocation import RevocationReason
from tests.services.test_certificates import _csr_pem
from tests.services.test_rotation import advance, fleet

__all__ = ["fleet"]
PAST_HALF = crl_updater.CRL_REFRESH_AFTER + timedelta(minutes=1)  # each CRL is due again after this


async def published_ca_ids(rt: Runtime) -> set[str]:
    return {info.ca_id for info in await crl_updater.refresh_due_crls(rt, holder="test")}


async def test_the_old_cas_crl_is_published_until_its_last_certificate_expires(fleet: Runtime) -> None:
    old = await cas.get_ca(fleet, bootstrap.INTERMEDIATE_NAME)
    ttl = crl_updater.CRL_REFRESH_AFTER * 1.5  # valid at the first refresh after the rotation, not the second
    kept = await issuance.issue_certificate(
        fleet, profile="default", csr_pem=_csr_pem("kept.example.internal"), ttl=ttl, enrollment="acme"
    )
    doomed = await issuance.issue_certificate(
        fleet, profile="default", csr_pem=_csr_pem("doomed.example.internal"), ttl=ttl, enrollment="acme"
    )
    await edits.revoke_certificate(fleet, doomed.id, RevocationReason.KEY_COMPROMISE)
    await rotation.start_rotation(fleet, bootstrap.INTERMEDIATE_NAME, to="next", spread=timedelta(0))
    done = await rotation.finish_rotation(fleet, bootstrap.INTERMEDIATE_NAME, force=True)
    last = max(kept.not_after, doomed.not_after)
    assert done.crl_until == last and done.crl_published
    assert (await cas.get_ca(fleet, old.id)).status == "disabled"

    # Disabled, one certificate still valid: its CRL (listing the revoked one) is refreshed.
    advance(fleet, PAST_HALF)
    assert fleet.clock.now() < last
    assert old.id in await published_ca_ids(fleet)
    status = await rotation_progress.rotation_status(fleet, old.id)
    assert status.crl_published and status.crl_until == last

    # Past the last notAfter: no longer refreshed, and the status says so.
    advance(fleet, PAST_HALF)
    assert fleet.clock.now() > last
    assert old.id not in await published_ca_ids(fleet)
    assert old.id not in {info.ca_id for info in await crl_updater.publish_unpublished(fleet)}
    status = await rotation_progress.rotation_status(fleet, old.id)
    assert not status.crl_published and status.crl_until == last
    # The CA that is still in use (the new one) and the root go on.
    assert (await cas.get_ca(fleet, "next")).id in await published_ca_ids(fleet) | {
        info.ca_id for info in await crls.generate_crls(fleet, "next")
    }

    # Its last CRL stays served as it was, even once expired: not regenerated on demand either.
    newest = await crls.latest_crl(fleet, old.id)
    advance(fleet, crls.CRL_VALIDITY)
    assert newest.next_update <= fleet.clock.now()
    assert (await crls.latest_crl(fleet, old.id)).number == newest.number
    assert await crls.is_ca_retired(fleet, old.id)

    # Enabled again (it may issue again): published again.
    await cas.set_ca_enabled(fleet, old.id, True)
    assert not await crls.is_ca_retired(fleet, old.id)
    assert old.id in await published_ca_ids(fleet)


async def test_a_disabled_root_publishes_while_a_ca_it_signed_is_valid(fleet: Runtime) -> None:
    root = await cas.set_ca_enabled(fleet, bootstrap.ROOT_NAME, False)
    # The root issued no leaf; the intermediates it signed are what its CRL speaks for.
    last = max(c.not_after for c in await cas.list_cas(fleet) if c.parent_id == root.id and c.not_after)
    assert root.id in await published_ca_ids(fleet)
    advance(fleet, last - fleet.clock.now() - timedelta(seconds=1))
    assert not await crls.is_ca_retired(fleet, root.id)
    advance(fleet, timedelta(seconds=1))
    assert await crls.is_ca_retired(fleet, root.id)
    assert root.id not in await published_ca_ids(fleet)
