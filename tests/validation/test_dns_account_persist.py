"""dns-account-01 (draft-ietf-acme-dns-account-label-03) and dns-persist-01 (draft-ietf-acme-dns-persist-02)
through the validator and a scripted DNS server on loopback; the drafts' test vectors pinned."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime

from acme_server.services.ports import ChallengeType, ValidationTask
from acme_server.validation import NetworkValidator
from acme_server.validation.dns01 import account_label, txt_record_value
from acme_server.validation.dnspersist01 import hashed_account_uri
from tests.validation.responders import KEY_AUTHORIZATION, ScriptedDNS, make_task

MakeValidator = Callable[..., NetworkValidator]
CA = ("ca.test",)
ACCOUNT = "https://ca.test/acme/account/7"
PREFIX = "https://ca.test/acme/account-hash/"
THUMBPRINT = KEY_AUTHORIZATION.rpartition(".")[2]


def task(challenge: ChallengeType, **changes: object) -> ValidationTask:
    base = make_task(challenge, "example.test")
    fields: dict[str, object] = {"account_uri": ACCOUNT, "account_hash_prefix": PREFIX, **changes}
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


def test_dns_account_label_s3_2_draft_example() -> None:
    assert account_label("https://example.com/acme/acct/ExampleAccount") == "_ujmmovf2vn55tgye"


def test_dns_persist_s10_2_hashed_uri_test_vectors() -> None:
    args = ("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", "https://ca.example/acct/123")
    prefix = "https://ca.example/account-hash/"
    assert hashed_account_uri(prefix, "example.com", *args) == (
        "https://ca.example/account-hash/sha-256/5SQm7n6tPh2-PlLbCKGnViTXX5z19SCN4cPGQHSk-kw"
    )
    assert hashed_account_uri(prefix, "*", *args).endswith(
        "/sha-256/NpDnSwUthQK8zCgFdefYxAdAVPnygMLbs9US6oO-5ug"
    )


async def test_dns_account_01_reads_the_account_labelled_name_only(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    validator = make_validator()
    dns_server.add("_acme-challenge.example.test", "TXT", f'"{txt_record_value(KEY_AUTHORIZATION)}"')

    at_dns01_name = await validator.validate(task(ChallengeType.DNS_ACCOUNT_01))
    dns_server.add(
        f"{account_label(ACCOUNT)}._acme-challenge.example.test",
        "TXT",
        f'"{txt_record_value(KEY_AUTHORIZATION)}"',
    )
    at_account_name = await validator.validate(task(ChallengeType.DNS_ACCOUNT_01))
    other_account = await validator.validate(task(ChallengeType.DNS_ACCOUNT_01, account_uri=ACCOUNT + "8"))

    assert (at_dns01_name.valid, at_dns01_name.error_type) == (False, "dns")
    assert at_account_name.valid, at_account_name.detail
    assert at_account_name.records[0]["query"] == f"{account_label(ACCOUNT)}._acme-challenge.example.test"
    assert (other_account.valid, other_account.error_type) == (False, "dns")


def persist(dns_server: ScriptedDNS, value: str) -> None:
    dns_server.add("_validation-persist.example.test", "TXT", f'"{value}"')


async def test_dns_persist_s4_1_hashed_account_uri_authorizes(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    hashed = hashed_account_uri(PREFIX, "example.test", THUMBPRINT, ACCOUNT)
    persist(dns_server, "other-ca.test; accounturi=https://other/1")
    persist(dns_server, f"CA.test; accounturi={hashed}; futureparam=x")

    outcome = await make_validator(caa_identities=CA).validate(task(ChallengeType.DNS_PERSIST_01))

    assert outcome.valid, outcome.detail
    assert outcome.valid_until is None


async def test_dns_persist_s4_2_another_account_is_unauthorized(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    persist(dns_server, f"ca.test; accounturi={hashed_account_uri(PREFIX, '*', THUMBPRINT, ACCOUNT + '8')}")

    outcome = await make_validator(caa_identities=CA).validate(task(ChallengeType.DNS_PERSIST_01))

    assert (outcome.valid, outcome.error_type) == (False, "unauthorized")
    assert outcome.detail == (
        "dns-persist-01 at _validation-persist.example.test: a record naming this CA is for another account"
    )


async def test_dns_persist_s9_3_1_bad_syntax_is_malformed_and_other_cas_records_are_ignored(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    persist(dns_server, f"ca.test; accounturi={ACCOUNT}; persistUntil=soon")
    validator = make_validator(caa_identities=CA)

    malformed = await validator.validate(task(ChallengeType.DNS_PERSIST_01))
    dns_server.zone.clear()
    persist(dns_server, f"other-ca.test; accounturi={ACCOUNT}")
    foreign = await validator.validate(task(ChallengeType.DNS_PERSIST_01))

    assert (malformed.valid, malformed.error_type) == (False, "malformed")
    assert (foreign.valid, foreign.error_type) == (False, "unauthorized")
    assert foreign.detail is not None and "no TXT record names this CA (ca.test)" in foreign.detail


async def test_dns_persist_s4_1_persist_until_bounds_the_validation_and_wildcards_need_the_policy(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    persist(dns_server, f"ca.test; accounturi={ACCOUNT}; persistUntil=4102444800")  # 2100-01-01
    validator = make_validator(caa_identities=CA)

    plain = await validator.validate(task(ChallengeType.DNS_PERSIST_01))
    wildcard = await validator.validate(task(ChallengeType.DNS_PERSIST_01, wildcard=True))
    dns_server.zone.clear()
    persist(dns_server, f"ca.test; accounturi={ACCOUNT}; policy=WILDCARD; persistUntil=1721952000")
    expired = await validator.validate(task(ChallengeType.DNS_PERSIST_01, wildcard=True))

    assert plain.valid and plain.valid_until == datetime(2100, 1, 1, tzinfo=UTC)
    assert (wildcard.valid, wildcard.error_type) == (False, "unauthorized")
    assert (expired.valid, expired.error_type) == (False, "unauthorized")
    assert expired.detail is not None and "expired at persistUntil 2024-07-26T00:00:00Z" in expired.detail
