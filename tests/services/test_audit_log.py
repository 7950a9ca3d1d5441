"""Issue 13 part 4: every state-changing admin action writes exactly one audit row naming who acted
and what it changed, in the transaction of the change itself (on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from acme_server.errors import Conflict
from acme_server.services import issuance
from acme_server.services.access import tokens
from acme_server.services.acme import accounts, eab
from acme_server.services.config import ca_creation, cas, policies, profiles
from acme_server.services.delivery import syncs
from acme_server.services.inventory import edits, export
from acme_server.services.issuance import ManagedRequest
from acme_server.services.platform import audit
from acme_server.services.platform.audit import Actor
from acme_server.services.runtime import Runtime
from acme_server.storage import AuditRecord
from ca_core.csr import build_csr
from ca_core.jose import jwk_of
from ca_core.keys import KeyAlgorithm, generate_key
from ca_core.request import Subject, SubjectAltNames
from ca_core.revocation import RevocationReason
from tests.storage.acme_factories import make_account

TESTER = Actor("shell", "tester")


async def _rows(rt: Runtime) -> list[AuditRecord]:
    async with rt.storage.read() as tx:
        rows, total = await tx.audit.list(audit.AuditFilter(), limit=500)
    assert total == len(rows)
    return rows


async def _one_row(rt: Runtime, change: Callable[[], Awaitable[Any]]) -> tuple[Any, AuditRecord]:
    """Run `change`; it must have added exactly one audit row, which is returned with its result."""
    before = {row.id for row in await _rows(rt)}
    result = await change()
    added = [row for row in await _rows(rt) if row.id not in before]
    assert len(added) == 1, [row.action for row in added]
    return result, added[0]


def _check(
    row: AuditRecord, action: str, target_kind: str, target_id: str | None, actor: Actor = TESTER
) -> None:
    assert (row.action, row.target_kind, row.target_id) == (action, target_kind, target_id)
    assert (row.actor_kind, row.actor_name, row.actor_id) == (actor.kind, actor.name, actor.id)
    assert row.at.tzinfo is not None and abs(datetime.now(UTC) - row.at) < timedelta(minutes=5)


async def test_ca_policy_profile_token_and_eab_changes_each_write_one_row(dev: Runtime) -> None:
    with audit.acting(TESTER):
        root, row = await _one_row(
            dev, lambda: ca_creation.create_root_ca(dev, name="a-root", subject=Subject(common_name="A"))
        )
        _check(row, "ca.create", "ca", root.id)
        assert row.detail == {"name": "a-root", "kind": "root"}
        sub, row = await _one_row(
            dev,
            lambda: ca_creation.create_intermediate_ca(
                dev, parent="a-root", name="a-sub", subject=Subject(common_name="S")
            ),
        )
        _check(row, "ca.create", "ca", sub.id)
        external, row = await _one_row(
            dev, lambda: ca_creation.create_external_ca(dev, name="ext", subject=Subject(common_name="E"))
        )
        _check(row, "ca.create", "ca", external.id)
        _, row = await _one_row(dev, lambda: cas.set_ca_enabled(dev, "a-sub", False))
        _check(row, "ca.disable", "ca", sub.id)
        _, row = await _one_row(dev, lambda: cas.set_ca_enabled(dev, "a-sub", True))
        _check(row, "ca.enable", "ca", sub.id)
        _, row = await _one_row(dev, lambda: cas.update_ca_settings(dev, "a-sub", crl_partitions=2))
        _check(row, "ca.update", "ca", sub.id)
        assert row.detail == {"crlPartitions": 2}
        issuer = await cas.get_ca(dev, "dev-root")
        _, row = await _one_row(dev, lambda: ca_creation.cross_sign_ca(dev, "a-sub", issuer="dev-root"))
        _check(row, "ca.cross_sign", "ca", sub.id)
        assert row.detail == {"issuer": issuer.id}

        policy, row = await _one_row(dev, lambda: policies.create_policy(dev, "pol", {}))
        _check(row, "policy.create", "policy", policy.id)
        _, row = await _one_row(dev, lambda: policies.update_policy(dev, "pol", {"description": "x"}))
        _check(row, "policy.update", "policy", policy.id)
        document = {"issuerType": "ca", "caId": "a-sub", "policyId": "pol"}
        profile, row = await _one_row(dev, lambda: profiles.create_profile(dev, "prof", document))
        _check(row, "profile.create", "profile", profile.id)
        _, row = await _one_row(
            dev, lambda: profiles.update_profile(dev, "prof", {**document, "description": "y"})
        )
        _check(row, "profile.update", "profile", profile.id)

        key, row = await _one_row(dev, lambda: eab.create_eab_key(dev, "prof", 2))
        _check(row, "eab.create", "eab_key", key.kid)
        assert row.detail == {"profile": profile.id, "maxAccounts": 2}
        for action, change in (
            ("eab.disable", lambda: eab.disable_eab_key(dev, key.kid)),
            ("eab.enable", lambda: eab.enable_eab_key(dev, key.kid)),
            ("eab.delete", lambda: eab.delete_eab_key(dev, key.kid)),
        ):
            _, row = await _one_row(dev, change)
            _check(row, action, "eab_key", key.kid)

        _, row = await _one_row(dev, lambda: profiles.delete_profile(dev, "prof"))
        _check(row, "profile.delete", "profile", profile.id)
        _, row = await _one_row(dev, lambda: policies.delete_policy(dev, "pol"))
        _check(row, "policy.delete", "policy", policy.id)

        (_, token), row = await _one_row(dev, lambda: tokens.create_token(dev, "bot", "operator"))
        _check(row, "token.create", "token", token.id)
        assert row.detail == {"name": "bot", "role": "operator"}  # never the secret
        _, row = await _one_row(dev, lambda: tokens.revoke_token(dev, "bot"))
        _check(row, "token.revoke", "token", token.id)


async def test_certificate_key_exports_revocation_deletion_and_syncs_each_write_one_row(
    dev: Runtime, tmp_path: Path
) -> None:
    request = ManagedRequest(
        Subject(common_name="db.example.internal"), SubjectAltNames(dns=("db.example.internal",))
    )
    cert = await issuance.issue_certificate(dev, profile="default", managed=request)
    with audit.acting(TESTER):
        _, row = await _one_row(dev, lambda: export.export_pem(dev, cert.id))
        _check(row, "certificate.export_key", "certificate", cert.id)
        assert row.detail == {"serial": cert.serial, "form": "PEM"}
        _, row = await _one_row(dev, lambda: export.export_pkcs12(dev, cert.id, password="pw", alias="db"))
        assert row.detail == {"serial": cert.serial, "form": "PKCS#12"}

        sync, row = await _one_row(
            dev,
            lambda: syncs.create_sync(
                dev, name="db", destination_type="directory", config={"path": str(tmp_path / "db")},
                certificate=cert.id, push=False,
            ),
        )  # fmt: skip
        _check(row, "sync.create", "sync", sync.id)
        _, row = await _one_row(dev, lambda: syncs.delete_sync(dev, "db"))
        _check(row, "sync.delete", "sync", sync.id)

        _, row = await _one_row(
            dev, lambda: edits.revoke_certificate(dev, cert.id, RevocationReason.KEY_COMPROMISE)
        )
        _check(row, "certificate.revoke", "certificate", cert.id)
        assert row.detail == {"serial": cert.serial, "reason": "KEY_COMPROMISE", "source": "api"}
        _, row = await _one_row(dev, lambda: edits.delete_certificate(dev, cert.id))
        _check(row, "certificate.delete", "certificate", cert.id)


async def test_account_deactivation_names_the_operator_or_else_the_account_itself(dev: Runtime) -> None:
    keys = [jwk_of(generate_key(KeyAlgorithm.EC_prime256v1).public_key()) for _ in range(2)]
    async with dev.storage.transaction() as tx:
        first, second = [await make_account(tx, jwk=k.to_json(), jwk_thumbprint=k.thumbprint) for k in keys]
    with audit.acting(TESTER):  # an admin in the UI (deactivate_by_id)
        _, row = await _one_row(dev, lambda: accounts.deactivate_by_id(dev, first.id))
    _check(row, "account.deactivate", "account", first.id)
    # RFC 8555 §7.3.6 from the ACME client itself: no edge set an actor, the account acts
    account = await accounts.get_account(dev, second.id)
    _, row = await _one_row(dev, lambda: accounts.deactivate_account(dev, account))
    _check(row, "account.deactivate", "account", second.id, actor=audit.account_actor(second.id))
    assert [(await accounts.get_account(dev, a.id)).status for a in (first, second)] == ["deactivated"] * 2


async def test_a_certificate_without_a_managed_key_exports_without_a_row(dev: Runtime) -> None:
    """Only a private key handed out is audited; a certificate and its chain are public."""
    key = generate_key(KeyAlgorithm.EC_prime256v1)
    csr = build_csr(
        Subject(common_name="pub.example.internal"), SubjectAltNames(dns=("pub.example.internal",)), key
    )
    cert = await issuance.issue_certificate(dev, profile="default", csr_pem=csr.public_bytes(Encoding.PEM))
    before = len(await _rows(dev))
    bundle = await export.export_pem(dev, cert.id)
    assert bundle.private_key is None
    assert len(await _rows(dev)) == before


async def test_a_refused_change_leaves_no_row(dev: Runtime) -> None:
    before = len(await _rows(dev))
    with audit.acting(TESTER), pytest.raises(Conflict, match="used by profile"):
        await policies.delete_policy(dev, "default")
    assert len(await _rows(dev)) == before


async def test_a_transaction_that_fails_after_its_audit_row_commits_neither(dev: Runtime) -> None:
    """The row is written in the change's transaction: when anything after it fails, both roll back."""
    before = len(await _rows(dev))
    with pytest.raises(RuntimeError, match="after the row"):
        async with dev.storage.transaction() as tx:
            await tx.tokens.create(name="ghost", role="viewer", token_hash="0" * 64)
            await audit.record(tx, TESTER, "token.create", "token", "ghost")
            raise RuntimeError("after the row")
    assert len(await _rows(dev)) == before
    assert "ghost" not in [t.name for t in await tokens.list_tokens(dev)]


async def test_nothing_set_an_actor_the_server_is_named(dev: Runtime) -> None:
    _, row = await _one_row(dev, lambda: policies.create_policy(dev, "unattended", {}))
    assert (row.actor_kind, row.actor_name) == ("system", "server")


async def test_the_list_filters_by_since_actor_action_and_target(dev: Runtime) -> None:
    alice, bob = Actor("shell", "alice"), Actor("token", "bob", "tok-1")
    with audit.acting(alice):
        first = await policies.create_policy(dev, "one", {})
    with audit.acting(bob):
        await policies.update_policy(dev, "one", {"description": "z"})
        _, token = await tokens.create_token(dev, "t", "viewer")
    found, total = await audit.list_events(dev, actor="alice")
    assert total == 1 and found[0].action == "policy.create" and str(found[0].actor) == "local shell (alice)"
    assert [e.action for e in (await audit.list_events(dev, actor="tok-1"))[0]] == [
        "token.create",
        "policy.update",
    ]
    assert [e.action for e in (await audit.list_events(dev, action="policy"))[0]][:2] == [
        "policy.update",
        "policy.create",
    ]
    assert (await audit.list_events(dev, action="polic"))[1] == 0  # a resource is matched whole
    assert [e.target_id for e in (await audit.list_events(dev, target=first.id))[0]] == [first.id, first.id]
    assert [e.target_id for e in (await audit.list_events(dev, target="token"))[0]] == [token.id]
    assert (await audit.list_events(dev, since=datetime.now(UTC) + timedelta(minutes=1)))[1] == 0
    page, total = await audit.list_events(dev, limit=1, offset=1)
    assert len(page) == 1 and total >= 3


def test_since_takes_an_iso_time_or_a_duration_back_from_now() -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    assert audit.parse_since("7d", now) == now - timedelta(days=7)
    assert audit.parse_since("2026-12-01", now) == datetime(2026, 12, 1, tzinfo=UTC)
    assert audit.parse_since("2026-12-01T10:00:00+01:00", now) == datetime(2026, 12, 1, 9, tzinfo=UTC)
    with pytest.raises(audit.InvalidSetting, match="neither a duration"):
        audit.parse_since("yesterday", now)
    with pytest.raises(audit.InvalidSetting, match="out of range"):
        audit.parse_since("0001-01-01T00:00:00+01:00", now)


async def test_a_nul_in_a_filter_is_refused_naming_it(dev: Runtime) -> None:
    with pytest.raises(audit.InvalidSetting, match="NUL") as refused:
        await audit.list_events(dev, target="a\x00b")
    assert refused.value.field == "target"
