"""CA rotation (services/renewal/rotation.py) on SQLite and PostgreSQL: profiles move to the new CA, every
active
certificate of the old one gets its own stored renewal moment within the spread (what renewalInfo then
says), API certificates with auto-renewal are renewed by the scheduler at it, progress is counted
(on old, renewed, not renewing), one rotation per CA at a time, and finishing disables the old CA
only when nothing depends on it (or forced) while its CRL goes on being published."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from acme_server.errors import Conflict, NotFound
from acme_server.services import issuance
from acme_server.services.config import ca_creation, cas, profiles
from acme_server.services.inventory import certificates
from acme_server.services.inventory.certificates import CertificateInfo
from acme_server.services.issuance import ManagedRequest
from acme_server.services.platform import audit, bootstrap
from acme_server.services.renewal import ari, rotation, rotation_progress, scheduler
from acme_server.services.runtime import Runtime
from acme_server.services.status import crl_updater
from acme_server.statuses import RotationState
from ca_core.errors import InvalidSetting
from ca_core.request import Subject, SubjectAltNames
from tests.fakes import FixedClock
from tests.services.test_certificates import _csr_pem

SPREAD = timedelta(days=2)
GRACE = timedelta(hours=6)


@pytest.fixture
async def fleet(dev: Runtime) -> Runtime:
    """The dev setup on a fixed clock, an `auto` profile (auto-renewal on) beside `default`, both on the
    dev intermediate, and a second intermediate `next` under the dev root to rotate onto."""
    dev.clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    old = await cas.get_ca(dev, bootstrap.INTERMEDIATE_NAME)
    await profiles.create_profile(
        dev,
        "auto",
        {"issuerType": "ca", "caId": old.id, "policyId": "default", "autoRenewByDefault": True},
    )
    await ca_creation.create_intermediate_ca(
        dev, parent=bootstrap.ROOT_NAME, name="next", subject=Subject(common_name="Next Intermediate")
    )
    return dev


def advance(rt: Runtime, delta: timedelta) -> None:
    assert isinstance(rt.clock, FixedClock)
    rt.clock.current += delta


async def api_certificate(rt: Runtime, name: str) -> CertificateInfo:
    return await issuance.issue_certificate(
        rt,
        profile="auto",
        managed=ManagedRequest(Subject(common_name=name), SubjectAltNames(dns=(name,))),
        ttl=timedelta(days=30),
    )


async def acme_certificate(rt: Runtime, name: str) -> CertificateInfo:
    """As an ACME client holds it: its own key (a CSR), enrollment acme."""
    return await issuance.issue_certificate(
        rt, profile="default", csr_pem=_csr_pem(name), ttl=timedelta(days=30), enrollment="acme"
    )


async def rotate(rt: Runtime) -> rotation_progress.RotationProgress:
    return await rotation.start_rotation(
        rt, bootstrap.INTERMEDIATE_NAME, to="next", spread=SPREAD, grace=GRACE
    )


async def test_rotation_moves_profiles_and_gives_each_certificate_its_moment(fleet: Runtime) -> None:
    acme = [await acme_certificate(fleet, f"a{i}.example.internal") for i in range(4)]
    start = fleet.clock.now()
    progress = await rotate(fleet)
    assert progress.rotation.state == RotationState.RENEWING
    assert (progress.rotation.old_ca, progress.rotation.new_ca) == (bootstrap.INTERMEDIATE_NAME, "next")
    assert (progress.on_old, progress.renewed, progress.not_renewing) == (4, 0, 0)
    new = await cas.get_ca(fleet, "next")
    for name in ("default", "auto"):
        assert (await profiles.get_profile(fleet, name)).profile.ca_id == new.id
    issued_now = await api_certificate(fleet, "after.example.internal")
    assert issued_now.ca_id == new.id  # the profiles issue from NEW at once
    moments = []
    for cert in acme:
        _, info = await ari.renewal_info_of(fleet, cert.id)
        assert info.reason == "renewal-requested"
        moment = rotation_progress.renewal_moment(cert.id, start, SPREAD)
        assert info.window.end == moment  # stored, and deterministic from the id
        assert start <= moment <= start + SPREAD
        moments.append(moment)
    assert len(set(moments)) == 4  # spread out, not one second for the fleet


async def test_api_certificates_are_renewed_by_the_scheduler_at_their_moment(fleet: Runtime) -> None:
    cert = await api_certificate(fleet, "api.example.internal")
    start = fleet.clock.now()
    await rotate(fleet)
    moment = rotation_progress.renewal_moment(cert.id, start, SPREAD)
    fleet.clock.current = moment - timedelta(seconds=1)  # type: ignore[attr-defined]
    assert await scheduler.run_due(fleet) == []
    fleet.clock.current = moment  # type: ignore[attr-defined]
    (attempt,) = await scheduler.run_due(fleet)
    assert attempt.outcome == "renewed" and attempt.certificate_id == cert.id
    successor = await certificates.get_certificate(fleet, attempt.successor_id or "")
    assert successor.ca_id == (await cas.get_ca(fleet, "next")).id
    assert ari.RENEWAL_REQUESTED not in successor.metadata  # the request is not carried on
    progress = await rotation_progress.rotation_status(fleet, bootstrap.INTERMEDIATE_NAME)
    assert (progress.on_old, progress.renewed, progress.not_renewing) == (0, 1, 0)
    assert await scheduler.run_due(fleet) == []  # renewed once


async def test_a_certificate_whose_client_never_returns_is_reported_as_not_renewing(fleet: Runtime) -> None:
    returning = await acme_certificate(fleet, "back.example.internal")
    silent = await acme_certificate(fleet, "gone.example.internal")
    await rotate(fleet)
    # The returning client renews (newOrder with `replaces`: the successor from NEW, linked).
    successor = await issuance.issue_certificate(
        fleet, profile="default", csr_pem=_csr_pem("back.example.internal"), enrollment="acme"
    )
    async with fleet.storage.transaction() as tx:
        assert await tx.certificates.mark_renewed(returning.id, successor.id)
    progress = await rotation_progress.rotation_status(fleet, bootstrap.INTERMEDIATE_NAME)
    assert (progress.on_old, progress.renewed, progress.not_renewing, progress.waiting) == (1, 1, 0, 1)
    advance(fleet, SPREAD + GRACE)
    progress = await rotation_progress.rotation_status(fleet, bootstrap.INTERMEDIATE_NAME)
    assert (progress.on_old, progress.renewed, progress.not_renewing, progress.waiting) == (1, 1, 1, 0)
    _, info = await ari.renewal_info_of(fleet, silent.id)
    assert info.window.end <= fleet.clock.now()


async def test_one_rotation_at_a_time_per_ca_and_the_same_one_resumes(fleet: Runtime) -> None:
    first = await rotate(fleet)
    await ca_creation.create_intermediate_ca(
        fleet, parent=bootstrap.ROOT_NAME, name="other", subject=Subject(common_name="Other")
    )
    with pytest.raises(Conflict, match="already being rotated to 'next'"):
        await rotation.start_rotation(fleet, bootstrap.INTERMEDIATE_NAME, to="other")
    again = await rotate(fleet)
    assert again.rotation.id == first.rotation.id and again.rotation.state == RotationState.RENEWING


async def test_concurrent_starts_make_one_rotation(fleet: Runtime) -> None:
    results = await asyncio.gather(rotate(fleet), rotate(fleet), return_exceptions=True)
    started = {r.rotation.id for r in results if isinstance(r, rotation_progress.RotationProgress)}
    assert len(started) == 1
    for other in results:
        assert isinstance(other, rotation_progress.RotationProgress | Conflict)


async def test_finish_is_refused_while_certificates_depend_on_the_old_ca(fleet: Runtime) -> None:
    await acme_certificate(fleet, "stays.example.internal")
    await rotate(fleet)
    with pytest.raises(Conflict, match=r"1 active certificate\(s\) still depend on CA 'dev-intermediate'"):
        await rotation.finish_rotation(fleet, bootstrap.INTERMEDIATE_NAME)
    assert (await cas.get_ca(fleet, bootstrap.INTERMEDIATE_NAME)).status == "active"
    done = await rotation.finish_rotation(fleet, bootstrap.INTERMEDIATE_NAME, force=True)
    assert done.rotation.state == RotationState.COMPLETED and done.rotation.finished_at == fleet.clock.now()
    assert (await cas.get_ca(fleet, bootstrap.INTERMEDIATE_NAME)).status == "disabled"
    with pytest.raises(Conflict, match="no rotation under way"):
        await rotation.finish_rotation(fleet, bootstrap.INTERMEDIATE_NAME)
    # The disabled CA's CRL is still refreshed by the updater.
    advance(fleet, crl_updater.CRL_REFRESH_AFTER + timedelta(minutes=1))
    published = await crl_updater.refresh_due_crls(fleet, holder="test")
    old = await cas.get_ca(fleet, bootstrap.INTERMEDIATE_NAME)
    assert old.id in {info.ca_id for info in published}


async def test_of_two_concurrent_finishes_one_wins(fleet: Runtime) -> None:
    await rotate(fleet)
    results = await asyncio.gather(
        rotation.finish_rotation(fleet, bootstrap.INTERMEDIATE_NAME),
        rotation.finish_rotation(fleet, bootstrap.INTERMEDIATE_NAME),
        return_exceptions=True,
    )
    finished = [r for r in results if isinstance(r, rotation_progress.RotationProgress)]
    assert len(finished) == 1 and finished[0].rotation.state == RotationState.COMPLETED
    (lost,) = [r for r in results if not isinstance(r, rotation_progress.RotationProgress)]
    assert isinstance(lost, Conflict)


async def test_finish_without_dependants_disables_and_frees_the_ca(fleet: Runtime) -> None:
    await rotate(fleet)
    done = await rotation.finish_rotation(fleet, bootstrap.INTERMEDIATE_NAME)
    assert done.on_old == 0 and done.rotation.state == RotationState.COMPLETED
    # A finished rotation frees the CA; the status shows the latest one.
    assert (
        await rotation_progress.rotation_status(fleet, bootstrap.INTERMEDIATE_NAME)
    ).rotation.id == done.rotation.id


async def test_cancel_ends_tracking_and_keeps_the_old_ca_enabled(fleet: Runtime) -> None:
    await rotate(fleet)
    cancelled = await rotation.cancel_rotation(fleet, bootstrap.INTERMEDIATE_NAME)
    assert cancelled.rotation.state == RotationState.CANCELLED
    assert (await cas.get_ca(fleet, bootstrap.INTERMEDIATE_NAME)).status == "active"
    with pytest.raises(Conflict, match="no rotation under way"):
        await rotation.cancel_rotation(fleet, bootstrap.INTERMEDIATE_NAME)


async def test_create_the_new_ca_beside_the_old_one(fleet: Runtime) -> None:
    # A new root: created as a root, like OLD.
    progress = await rotation.start_rotation(fleet, bootstrap.ROOT_NAME, to="root-2027", create=True)
    new = await cas.get_ca(fleet, "root-2027")
    assert new.kind == "root" and progress.rotation.new_ca_id == new.id
    # A new intermediate: under OLD's parent. It already chains to dev-root, so cross-signing it by
    # dev-root is refused before anything is written (no CA, no rotation).
    with pytest.raises(Conflict, match="'next-2027' would chain to the root of 'next' already"):
        await rotation.start_rotation(fleet, "next", to="next-2027", create=True, cross_sign=True)
    assert await rotation_progress.find_rotation(fleet, "next") is None
    assert "next-2027" not in {ca.name for ca in await cas.list_cas(fleet)}
    done = await rotation.start_rotation(fleet, "next", to="next-2028", create=True)
    created = await cas.get_ca(fleet, "next-2028")
    assert created.kind == "intermediate" and created.parent_id == (await cas.get_ca(fleet, "dev-root")).id
    assert done.rotation.state == RotationState.RENEWING


async def test_cross_sign_gives_the_new_ca_a_chain_to_the_old_root(fleet: Runtime) -> None:
    await ca_creation.create_root_ca(fleet, name="root-b", subject=Subject(common_name="Root B"))
    await ca_creation.create_intermediate_ca(
        fleet, parent="root-b", name="issuing-b", subject=Subject(common_name="B")
    )
    await rotation.start_rotation(fleet, bootstrap.INTERMEDIATE_NAME, to="issuing-b", cross_sign=True)
    new = await cas.get_ca(fleet, "issuing-b")
    root = await cas.get_ca(fleet, bootstrap.ROOT_NAME)
    (chain,) = await cas.alternate_chains(fleet, new.id)
    assert chain.endswith(root.certificate_pem or "")


async def test_bad_rotations_are_refused(fleet: Runtime) -> None:
    with pytest.raises(InvalidSetting, match="to: a CA cannot be rotated onto itself"):
        await rotation.start_rotation(fleet, bootstrap.INTERMEDIATE_NAME, to=bootstrap.INTERMEDIATE_NAME)
    with pytest.raises(NotFound):
        await rotation.start_rotation(fleet, bootstrap.INTERMEDIATE_NAME, to="nowhere")
    with pytest.raises(InvalidSetting, match="spread"):
        await rotation.start_rotation(fleet, bootstrap.INTERMEDIATE_NAME, to="next", spread=-SPREAD)
    await cas.set_ca_enabled(fleet, "next", False)
    with pytest.raises(Conflict, match="'next' is disabled"):
        await rotation.start_rotation(fleet, bootstrap.INTERMEDIATE_NAME, to="next")
    with pytest.raises(NotFound, match="rotation of CA"):
        await rotation_progress.rotation_status(fleet, bootstrap.INTERMEDIATE_NAME)
    assert await rotation_progress.find_rotation(fleet, bootstrap.INTERMEDIATE_NAME) is None


def test_a_period_is_zero_or_a_duration() -> None:
    assert rotation_progress.parse_period("0", field="spread") == timedelta(0)
    assert rotation_progress.parse_period("12h", field="spread") == timedelta(hours=12)
    with pytest.raises(InvalidSetting, match="grace"):
        rotation_progress.parse_period("soon", field="grace")


async def test_start_finish_and_cancel_are_audited_once_each_with_their_actor(fleet: Runtime) -> None:
    with audit.acting(audit.Actor("token", "rotator", "tok-1")):
        await rotate(fleet)
        await rotation.finish_rotation(fleet, bootstrap.INTERMEDIATE_NAME, force=True)
        await rotation.start_rotation(fleet, "next", to="other", create=True)
        await rotation.cancel_rotation(fleet, "next")
    events, _ = await audit.list_events(fleet, action="ca", limit=50)
    old = await cas.get_ca(fleet, bootstrap.INTERMEDIATE_NAME)
    new = await cas.get_ca(fleet, "next")
    rotations = [e for e in reversed(events) if e.action.startswith("ca.rot")]
    assert [(e.action, e.target_id, e.actor.name) for e in rotations] == [
        ("ca.rotate", old.id, "rotator"),
        ("ca.rotation.finish", old.id, "rotator"),
        ("ca.rotate", new.id, "rotator"),
        ("ca.rotation.cancel", new.id, "rotator"),
    ]
