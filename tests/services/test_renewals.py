"""Server-driven auto-renewal (services/renewal/scheduler.py) on SQLite and PostgreSQL: which certificates are
due, exactly one successor per certificate under concurrent scheduler passes (two Storage objects, and
two `acme-server renewals run-due` processes), back-off after failures, recorded attempts, and
switching auto-renewal per certificate."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from acme_server.errors import NotRenewable
from acme_server.services import issuance
from acme_server.services.config import cas, profiles
from acme_server.services.inventory import certificates, edits
from acme_server.services.inventory.certificates import CertificateInfo
from acme_server.services.issuance import ManagedRequest
from acme_server.services.platform import bootstrap
from acme_server.services.renewal import scheduler
from acme_server.services.runtime import Runtime
from acme_server.storage import CertificateFilter, Storage
from ca_core.request import Subject, SubjectAltNames
from tests.fakes import FixedClock
from tests.services.test_certificates import _csr_pem

REPOSITORY = Path(__file__).resolve().parents[2]


async def create_auto_profile(rt: Runtime) -> None:
    """Profile `auto` on the dev intermediate: renewBeforeDays 30, auto-renew by default."""
    intermediate = await cas.get_ca(rt, bootstrap.INTERMEDIATE_NAME)
    await profiles.create_profile(
        rt,
        "auto",
        {
            "issuerType": "ca",
            "caId": intermediate.id,
            "policyId": bootstrap.DEFAULT_POLICY,
            "renewBeforeDays": 30,
            "autoRenewByDefault": True,
        },
    )


@pytest.fixture
async def auto(dev: Runtime) -> Runtime:
    """The dev setup plus profile `auto` (create_auto_profile) and a fixed clock."""
    await create_auto_profile(dev)
    dev.clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    return dev


def advance(rt: Runtime, delta: timedelta) -> None:
    assert isinstance(rt.clock, FixedClock)
    rt.clock.current += delta


async def issue(rt: Runtime, name: str, *, days: int = 40, profile: str = "auto") -> CertificateInfo:
    return await issuance.issue_certificate(
        rt,
        profile=profile,
        managed=ManagedRequest(Subject(common_name=name), SubjectAltNames(dns=(name,))),
        ttl=timedelta(days=days),
        metadata={"app": name.split(".")[0]},
    )


async def successors(rt: Runtime, certificate_id: str) -> list[CertificateInfo]:
    found, _ = await certificates.list_certificates(rt, CertificateFilter(), limit=500)
    return [c for c in found if c.renewed_from_id == certificate_id]


async def test_a_certificate_is_renewed_once_when_it_enters_the_profiles_window(auto: Runtime) -> None:
    cert = await issue(auto, "web.example.internal", days=40)
    assert cert.auto_renew  # the profile's autoRenewByDefault
    assert await scheduler.run_due(auto) == []  # 40 days left, window 30
    advance(auto, timedelta(days=9))
    assert await scheduler.run_due(auto) == []
    advance(auto, timedelta(days=2))  # 29 days left
    [attempt] = await scheduler.run_due(auto)
    assert attempt.certificate_id == cert.id and attempt.outcome == "renewed" and attempt.error is None
    successor = await certificates.get_certificate(auto, attempt.successor_id or "")
    assert successor.renewed_from_id == cert.id and successor.auto_renew
    assert successor.metadata == {"app": "web"} and successor.status == "active"
    assert successor.not_after - successor.not_before == timedelta(days=40)
    assert (await certificates.get_certificate(auto, cert.id)).status == "superseded"
    assert await scheduler.run_due(auto) == []  # renewed once, the successor is not due yet
    status = await scheduler.get_renewal_status(auto, cert.id)
    assert [a.outcome for a in status.attempts] == ["renewed"] and status.failures == 0
    assert not status.eligible  # superseded now
    assert (
        await scheduler.get_renewal_status(auto, successor.id)
    ).renew_after == successor.not_after - timedelta(days=30)


async def test_ineligible_certificates_are_left_alone(auto: Runtime) -> None:
    off = await issue(auto, "off.example.internal", days=10)
    await scheduler.set_auto_renew(auto, off.id, False)
    from_csr = await issuance.issue_certificate(
        auto, profile="auto", csr_pem=_csr_pem("csr.example.internal"), ttl=timedelta(days=10)
    )
    assert not from_csr.auto_renew  # no server key: never on by default
    over_acme = await issuance.issue_certificate(
        auto,
        profile="auto",
        managed=ManagedRequest(Subject(common_name="acme.example.internal")),
        ttl=timedelta(days=10),
        enrollment="acme",
    )
    revoked = await issue(auto, "revoked.example.internal", days=10)
    from ca_core.revocation import RevocationReason

    await edits.revoke_certificate(auto, revoked.id, RevocationReason.SUPERSEDED)
    default_profile = await issue(auto, "plain.example.internal", days=10, profile="default")
    assert not default_profile.auto_renew
    advance(auto, timedelta(days=9))
    assert await scheduler.run_due(auto) == []
    for cert in (off, from_csr, over_acme, revoked, default_profile):
        assert await successors(auto, cert.id) == []


async def test_set_auto_renew_refuses_acme_and_csr_certificates(auto: Runtime) -> None:
    from_csr = await issuance.issue_certificate(
        auto, profile="default", csr_pem=_csr_pem("c.example.internal")
    )
    with pytest.raises(NotRenewable, match="from a CSR; auto-renewal needs a server-generated key"):
        await scheduler.set_auto_renew(auto, from_csr.id, True)
    over_acme = await issuance.issue_certificate(
        auto,
        profile="default",
        managed=ManagedRequest(Subject(common_name="a.example.internal")),
        enrollment="acme",
    )
    with pytest.raises(NotRenewable, match="issued over ACME"):
        await scheduler.set_auto_renew(auto, over_acme.id, True)
    assert not (await scheduler.set_auto_renew(auto, over_acme.id, False)).auto_renew  # off always works
    managed = await issue(auto, "m.example.internal", profile="default")
    assert (await scheduler.set_auto_renew(auto, managed.id, True)).auto_renew
    assert (await certificates.get_certificate(auto, managed.id)).auto_renew


async def test_a_failed_renewal_backs_off_and_is_retried_until_it_succeeds(auto: Runtime) -> None:
    cert = await issue(auto, "flaky.example.internal", days=10)
    advance(auto, timedelta(days=5))
    await cas.set_ca_enabled(auto, bootstrap.INTERMEDIATE_NAME, False)
    [first] = await scheduler.run_due(auto)
    assert first.outcome == "failed" and first.successor_id is None
    assert first.error is not None and "disabled" in first.error
    assert first.next_attempt_at == first.attempted_at + timedelta(minutes=5)
    assert await scheduler.run_due(auto) == []  # backing off
    advance(auto, timedelta(minutes=4))
    assert await scheduler.run_due(auto) == []
    advance(auto, timedelta(minutes=1))
    [second] = await scheduler.run_due(auto)
    assert second.outcome == "failed" and second.next_attempt_at == second.attempted_at + timedelta(
        minutes=10
    )
    status = await scheduler.get_renewal_status(auto, cert.id)
    assert status.failures == 2 and status.next_attempt_at == second.next_attempt_at
    assert status.last_error == second.error
    await cas.set_ca_enabled(auto, bootstrap.INTERMEDIATE_NAME, True)
    advance(auto, timedelta(minutes=10))
    [third] = await scheduler.run_due(auto)
    assert third.outcome == "renewed"
    status = await scheduler.get_renewal_status(auto, cert.id)
    assert [a.outcome for a in status.attempts] == ["failed", "failed", "renewed"]
    assert status.failures == 0 and status.next_attempt_at is None and status.last_error is None
    assert len(await successors(auto, cert.id)) == 1


def test_a_certificate_living_no_longer_than_the_window_is_due_at_half_its_life() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    window = timedelta(days=30)
    assert scheduler.renew_after(start, start + timedelta(days=90), window) == start + timedelta(days=60)
    assert scheduler.renew_after(start, start + timedelta(days=31), window) == start + timedelta(days=1)
    assert scheduler.renew_after(start, start + timedelta(days=10), window) == start + timedelta(days=5)


def test_backoff_doubles_up_to_six_hours() -> None:
    assert [scheduler.backoff(n) for n in (1, 2, 3)] == [timedelta(minutes=m) for m in (5, 10, 20)]
    assert scheduler.backoff(50) == timedelta(hours=6)


@pytest.fixture
async def second_runtime(auto: Runtime, database_url: str) -> AsyncIterator[Runtime]:
    """Another worker or replica: its own Storage (engine, pool) on the same database and KEK."""
    storage = await Storage.open(database_url)
    try:
        yield Runtime(storage=storage, kek=auto.kek, public_url=auto.public_url, clock=auto.clock)
    finally:
        await storage.close()


async def test_two_workers_renew_each_due_certificate_exactly_once(
    auto: Runtime, second_runtime: Runtime
) -> None:
    due = [await issue(auto, f"w{i}.example.internal", days=10) for i in range(6)]
    advance(auto, timedelta(days=5))  # a 10-day certificate is due once half its life has passed
    first, second = await asyncio.gather(
        scheduler.run_due(auto, holder="worker-a"), scheduler.run_due(second_runtime, holder="worker-b")
    )
    attempts = first + second
    assert sorted(a.certificate_id for a in attempts) == sorted(c.id for c in due)
    assert {a.outcome for a in attempts} == {"renewed"}
    for cert in due:
        assert len(await successors(auto, cert.id)) == 1
        assert (await certificates.get_certificate(auto, cert.id)).status == "superseded"
    assert await scheduler.run_due(second_runtime) == []


def _run_due_process(database_url: str, kek: str, data_dir: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "ACME_SERVER_DATABASE": database_url,
        "ACME_SERVER_KEK": kek,
        "ACME_SERVER_DATA_DIR": str(data_dir),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "acme_server.cli", "renewals", "run-due", "--json"],
        env=env,
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_two_run_due_processes_renew_each_due_certificate_exactly_once(
    auto: Runtime, database_url: str, tmp_path: Path
) -> None:
    # Due by the real clock: issued six days ago for ten days, so more than half its life has passed.
    auto.clock = FixedClock(datetime.now(UTC) - timedelta(days=6))
    due = [await issue(auto, f"p{i}.example.internal", days=10) for i in range(5)]
    processes = [_run_due_process(database_url, auto.kek.to_text(), tmp_path / f"data{i}") for i in range(2)]
    outputs = [await asyncio.to_thread(p.communicate, timeout=120) for p in processes]
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr
    attempts = [a for stdout, _ in outputs for a in json.loads(stdout)]
    assert sorted(a["certificate"] for a in attempts) == sorted(c.id for c in due)
    assert {a["outcome"] for a in attempts} == {"renewed"}
    for cert in due:
        [successor] = await successors(auto, cert.id)
        assert successor.status == "active"


async def test_the_scheduler_loop_renews_due_certificates_until_stopped(auto: Runtime) -> None:
    cert = await issue(auto, "loop.example.internal", days=10)
    advance(auto, timedelta(days=6))
    stop = asyncio.Event()
    loop = asyncio.create_task(scheduler.run_scheduler(auto, stop, interval=0.05))
    try:
        for _ in range(200):
            if await successors(auto, cert.id):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(loop, 5)
    assert len(await successors(auto, cert.id)) == 1


class _FailingOnceClock(FixedClock):
    """Breaks the first pass (as a database outage would), then tells the time."""

    failed = False

    def now(self) -> datetime:
        if not self.failed:
            self.failed = True
            raise RuntimeError("database went away")
        return self.current


async def test_a_failed_pass_is_logged_and_the_loop_keeps_going(
    auto: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    cert = await issue(auto, "survivor.example.internal", days=10)
    assert isinstance(auto.clock, FixedClock)
    auto.clock = _FailingOnceClock(auto.clock.current + timedelta(days=6))
    stop = asyncio.Event()
    loop = asyncio.create_task(scheduler.run_scheduler(auto, stop, interval=0.05))
    try:
        for _ in range(200):
            if await successors(auto, cert.id):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(loop, 5)
    assert len(await successors(auto, cert.id)) == 1
    assert "the pass failed; retrying in 0.05s" in caplog.text and "database went away" in caplog.text


def test_the_renewal_interval_setting_from_environment_flag_and_its_bounds() -> None:
    from acme_server.config import load_settings
    from acme_server.errors import ConfigError

    assert load_settings({}, {}).renewal_interval == 300.0
    assert load_settings({}, {"ACME_SERVER_RENEWAL_INTERVAL": "0"}).renewal_interval == 0.0
    assert (
        load_settings({"renewal_interval": "60"}, {"ACME_SERVER_RENEWAL_INTERVAL": "0"}).renewal_interval
        == 60
    )
    with pytest.raises(ConfigError, match="renewal_interval: must be between 0 and 86400"):
        load_settings({}, {"ACME_SERVER_RENEWAL_INTERVAL": "-1"})
