"""The one issuance pipeline (services/issuance.py) as its API entry points use it: the catalog read
once per issuance, the certificate stored in one write transaction with its entry point's bookkeeping
(the request row and outcome, the renewal link, the scheduler's attempt). Counted as the ACME round
trips are (tests/acme/test_round_trips.py), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from acme_server.services import issuance
from acme_server.services.config import policies, profiles
from acme_server.services.inventory import requests
from acme_server.services.issuance import ManagedRequest
from acme_server.services.renewal import scheduler
from acme_server.services.renewal.now import renew_certificate
from acme_server.services.runtime import Runtime
from ca_core.errors import InvalidSetting, PolicyViolation
from ca_core.request import Subject, SubjectAltNames
from tests.acme.test_round_trips import Work, counted
from tests.fakes import FixedClock
from tests.services.test_renewals import create_auto_profile


def _managed(name: str) -> ManagedRequest:
    return ManagedRequest(Subject(common_name=name), SubjectAltNames(dns=(name,)))


def _generation_reads(work: Work) -> int:
    return sum("config_generation" in statement for statement in work.log)


async def test_a_managed_request_reads_the_catalog_once_and_writes_once(dev: Runtime) -> None:
    await requests.create_request(dev, profile="default", managed=_managed("warm.example.internal"))
    with counted(dev) as work:
        info, certificate = await requests.create_request(
            dev, profile="default", managed=_managed("once.example.internal"), metadata={"team": "a"}
        )
    assert (info.status, info.certificate_id, info.metadata) == ("issued", certificate.id, {"team": "a"})
    # the catalog (its generation: the cache is fresh); then the request, the certificate, the sync
    # queue and the outcome in one write (before: three catalog reads and three write transactions)
    assert (work.transactions, _generation_reads(work)) == (2, 1), work.log
    assert (await requests.get_request(dev, info.id)).certificate_id == certificate.id


async def test_a_refused_request_is_stored_failed_in_one_write(dev: Runtime) -> None:
    await policies.create_policy(
        dev, "internal", {"altNames": {"dns": {"allowed": ["*.svc.example.internal"]}}}
    )
    await profiles.create_profile(dev, "svc", {"caId": "dev-intermediate", "policyId": "internal"})
    await requests.create_request(dev, profile="svc", managed=_managed("a.svc.example.internal"))
    with counted(dev) as work, pytest.raises(PolicyViolation) as caught:
        await requests.create_request(dev, profile="svc", managed=_managed("evil.example.com"))
    assert (work.transactions, _generation_reads(work)) == (2, 1), work.log
    (failed,), total = await requests.list_requests(dev, status="failed")
    assert total == 1 and failed.error == caught.value.detail and failed.certificate_id is None


async def test_a_profile_without_api_enrollment_fails_the_request_and_an_unknown_one_stores_nothing(
    dev: Runtime,
) -> None:
    await profiles.create_profile(
        dev, "acme-only", {"caId": "dev-intermediate", "enrollmentMethods": ["acme"]}
    )
    with pytest.raises(InvalidSetting, match="does not allow api enrollment"):
        await requests.create_request(dev, profile="acme-only", managed=_managed("x.example.internal"))
    with pytest.raises(InvalidSetting, match="no profile 'nope'"):
        await requests.create_request(dev, profile="nope", managed=_managed("x.example.internal"))
    found, total = await requests.list_requests(dev)
    assert total == 1 and found[0].status == "failed"


async def test_renew_reads_certificate_and_catalog_together_and_stores_once(dev: Runtime) -> None:
    _, old = await requests.create_request(dev, profile="default", managed=_managed("r.example.internal"))
    with counted(dev) as work:
        successor = await renew_certificate(dev, old.id, actor="test")
    assert successor.renewed_from_id == old.id
    # one read (the certificate, its metadata, the generation); one write (successor, link, syncs)
    assert (work.transactions, _generation_reads(work)) == (2, 1), work.log


async def test_the_scheduler_stores_its_attempt_with_the_successor(dev: Runtime) -> None:
    await create_auto_profile(dev)
    dev.clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    old = await issuance.issue_certificate(
        dev, profile="auto", managed=_managed("due.example.internal"), ttl=timedelta(days=40)
    )
    dev.clock.current += timedelta(days=11)  # inside the 30-day window
    with counted(dev) as work:
        (attempt,) = await scheduler.run_due(dev, holder="test")
    assert (attempt.outcome, attempt.certificate_id, attempt.holder) == ("renewed", old.id, "test")
    status = await scheduler.get_renewal_status(dev, old.id)
    assert [a.successor_id for a in status.attempts] == [attempt.successor_id] != [None]
    # the rotations due, the profiles' windows (the catalog), the due list; then for the certificate:
    # its claim, one read (it, its metadata, the catalog) and one write (successor and attempt together)
    assert work.transactions == 6, work.log
