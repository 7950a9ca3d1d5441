"""Issue 13 part 4, the actions after the admin ones: certificate metadata edits, the auto-renew switch,
renew now (reissued on the server, or asked of an ACME client), an ACME account's key rollover and
contact update, and a backup restore are each one audit row with actor, time and target; `prune`
deletes only events older than the cut-off and leaves a row of its own, and the `audit_retention`
setting's pass prunes at most once a day across workers (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from acme_server.config import load_settings
from acme_server.errors import ConfigError, KeyInUse, NotRenewable
from acme_server.services import issuance
from acme_server.services.acme import accounts
from acme_server.services.inventory import certificates, edits
from acme_server.services.inventory.certificates import CertificateInfo
from acme_server.services.issuance import ManagedRequest
from acme_server.services.platform import audit
from acme_server.services.platform.audit import Actor
from acme_server.services.platform.backup import backup_database, restore_database
from acme_server.services.renewal import now as renew
from acme_server.services.renewal import scheduler
from acme_server.services.runtime import Runtime
from acme_server.storage import AuditFilter, AuditRecord, Storage
from ca_core.csr import build_csr
from ca_core.errors import InvalidSetting
from ca_core.jose import jwk_of
from ca_core.keys import KeyAlgorithm, generate_key
from ca_core.request import Subject, SubjectAltNames
from tests.services.test_audit_log import TESTER, _check, _one_row, _rows
from tests.storage.acme_factories import make_account


async def _managed(rt: Runtime, name: str) -> CertificateInfo:
    request = ManagedRequest(Subject(common_name=name), SubjectAltNames(dns=(name,)))
    return await issuance.issue_certificate(rt, profile="default", managed=request, metadata={"team": "a"})


async def _acme_issued(rt: Runtime, name: str) -> CertificateInfo:
    """As an ACME client holds it: its own key (a CSR), enrollment acme."""
    key = generate_key(KeyAlgorithm.EC_prime256v1)
    csr = build_csr(Subject(common_name=name), SubjectAltNames(dns=(name,)), key).public_bytes(Encoding.PEM)
    return await issuance.issue_certificate(rt, profile="default", csr_pem=csr, enrollment="acme")


async def test_a_metadata_edit_is_one_row_naming_the_keys_set_and_removed(dev: Runtime) -> None:
    cert = await _managed(dev, "meta.example.internal")
    with audit.acting(TESTER):
        _, row = await _one_row(
            dev, lambda: edits.update_metadata(dev, cert.id, {"env": "prod", "team": None})
        )
        _check(row, "certificate.metadata", "certificate", cert.id)
        assert row.detail == {"serial": cert.serial, "set": ["env"], "removed": ["team"]}
        _, row = await _one_row(dev, lambda: edits.set_metadata(dev, cert.id, {"env": "test", "x": "1"}))
        _check(row, "certificate.metadata", "certificate", cert.id)
        assert row.detail == {"serial": cert.serial, "set": ["env", "x"], "removed": []}
    assert (await certificates.get_certificate(dev, cert.id)).metadata == {"env": "test", "x": "1"}


async def test_the_auto_renew_switch_is_one_row_each_way(dev: Runtime) -> None:
    cert = await _managed(dev, "auto.example.internal")
    with audit.acting(TESTER):
        for enabled in (True, False):
            _, row = await _one_row(dev, lambda on=enabled: scheduler.set_auto_renew(dev, cert.id, on))
            _check(row, "certificate.auto_renew", "certificate", cert.id)
            assert row.detail == {"serial": cert.serial, "enabled": enabled}


async def test_refused_auto_renew_leaves_no_row(dev: Runtime) -> None:
    cert = await _acme_issued(dev, "refused.example.internal")
    before = len(await _rows(dev))
    with audit.acting(TESTER), pytest.raises(NotRenewable):
        await scheduler.set_auto_renew(dev, cert.id, True)
    assert len(await _rows(dev)) == before


async def test_renew_now_on_the_server_is_one_row_naming_the_successor(dev: Runtime) -> None:
    cert = await _managed(dev, "renew.example.internal")
    with audit.acting(TESTER):
        successor, row = await _one_row(dev, lambda: renew.renew_now(dev, cert.id, actor="tester"))
    _check(row, "certificate.renew_now", "certificate", cert.id)
    assert row.detail == {"serial": cert.serial, "how": "reissued", "successor": successor.id}
    assert successor.renewed_from_id == cert.id


async def test_renew_now_of_an_acme_certificate_is_one_row_asking_its_client(dev: Runtime) -> None:
    cert = await _acme_issued(dev, "client.example.internal")
    with audit.acting(TESTER):
        marked, row = await _one_row(dev, lambda: renew.renew_now(dev, cert.id, actor="tester"))
    _check(row, "certificate.renew_now", "certificate", cert.id)
    requested = marked.metadata["renewal-requested-at"]
    assert row.detail == {"serial": cert.serial, "how": "renewalInfo", "requestedAt": requested}


async def test_the_scheduler_renewing_writes_no_row(dev: Runtime) -> None:
    """Its renewals are recorded as attempts (services/renewal/scheduler.py), not as someone's change."""
    cert = await _managed(dev, "scheduled.example.internal")
    before = len(await _rows(dev))
    await renew.renew_certificate(dev, cert.id, actor="scheduler test")
    assert len(await _rows(dev)) == before


async def test_an_account_key_rollover_and_contact_update_are_rows_of_the_account(dev: Runtime) -> None:
    old_key, new_key = (jwk_of(generate_key(KeyAlgorithm.EC_prime256v1).public_key()) for _ in range(2))
    async with dev.storage.transaction() as tx:
        made = await make_account(tx, jwk=old_key.to_json(), jwk_thumbprint=old_key.thumbprint)
    account = await accounts.get_account(dev, made.id)
    # RFC 8555 §7.3.2 and §7.3.5 from the ACME client: no edge set an actor, the account acts
    contacts = ["mailto:ops@example.internal"]
    _, row = await _one_row(dev, lambda: accounts.update_account(dev, account, contacts=contacts))
    _check(row, "account.update_contacts", "account", made.id, actor=audit.account_actor(made.id))
    assert row.detail == {"contacts": contacts}
    _, row = await _one_row(dev, lambda: accounts.change_key(dev, account, new_key))
    _check(row, "account.key_change", "account", made.id, actor=audit.account_actor(made.id))
    assert row.detail == {"oldKeyThumbprint": old_key.thumbprint, "newKeyThumbprint": new_key.thumbprint}
    assert (await accounts.get_account(dev, made.id)).jwk.thumbprint == new_key.thumbprint
    # a key another account holds is refused: no change, no row
    before = len(await _rows(dev))
    with pytest.raises(KeyInUse):
        await accounts.change_key(dev, await accounts.get_account(dev, made.id), new_key)
    assert len(await _rows(dev)) == before


async def test_a_restore_is_one_row_in_the_restored_log(
    dev: Runtime, database_url: str, empty_database_url: str, tmp_path: Path
) -> None:
    file = tmp_path / "all.backup"
    await backup_database(database_url, file)
    summary = await restore_database(empty_database_url, file, actor=TESTER)
    restored = await Storage.open(empty_database_url)
    try:
        async with restored.read() as tx:
            rows, _ = await tx.audit.list(AuditFilter(action="database"), limit=10)
    finally:
        await restored.close()
    (row,) = rows
    _check(row, "database.restore", "database", None)
    assert row.detail == {
        "file": str(file),
        "force": False,
        "revision": summary.revision,
        "backupCreatedAt": summary.created_at.isoformat(),
    }


async def test_prune_deletes_only_older_events_and_leaves_its_own_row(dev: Runtime) -> None:
    now = datetime.now(UTC)
    async with dev.storage.transaction() as tx:
        for days in (400, 366, 364, 1):
            await audit.record(
                tx, TESTER, "policy.update", "policy", f"p{days}", at=now - timedelta(days=days)
            )
    kept_before = {row.target_id for row in await _rows(dev)} - {"p400", "p366"}
    with audit.acting(Actor("shell", "janitor")):
        deleted, before = await audit.prune(dev, timedelta(days=365))
    assert deleted == 2 and abs(before - (now - timedelta(days=365))) < timedelta(minutes=5)
    rows: list[AuditRecord] = await _rows(dev)
    newest = rows[0]
    _check(newest, "audit.prune", "audit", None, actor=Actor("shell", "janitor"))
    assert newest.detail == {"before": before.isoformat(), "deleted": 2}
    assert {row.target_id for row in rows[1:]} == kept_before  # p364 and p1 (and the bootstrap's) stay
    with pytest.raises(InvalidSetting, match="longer than zero"):
        await audit.prune(dev, timedelta(0))


async def test_automatic_pruning_runs_once_a_day_whichever_worker_asks(dev: Runtime) -> None:
    async with dev.storage.transaction() as tx:
        await audit.record(
            tx, TESTER, "policy.update", "policy", "ancient", at=datetime.now(UTC) - timedelta(days=9)
        )
    assert await audit.prune_if_due(dev, timedelta(days=7)) == 1
    # a second worker (or replica) within the day: not due, nothing deleted, no second row
    before = len(await _rows(dev))
    assert await audit.prune_if_due(dev, timedelta(days=7)) is None
    assert len(await _rows(dev)) == before
    newest = (await _rows(dev))[0]
    _check(newest, "audit.prune", "audit", None, actor=audit.RETENTION)
    assert newest.detail["deleted"] == 1


def test_the_retention_setting_is_a_duration_or_off() -> None:
    assert load_settings({}, {}).audit_retention_period is None
    settings = load_settings({"audit_retention": "52w"}, {"ACME_SERVER_AUDIT_RETENTION": "1d"})
    assert settings.audit_retention_period == timedelta(weeks=52)
    assert load_settings({}, {"ACME_SERVER_AUDIT_RETENTION": "off"}).audit_retention_period is None
    with pytest.raises(ConfigError, match="audit_retention: 'a year' is not a duration"):
        load_settings({"audit_retention": "a year"}, {})
