"""CAA (RFC 8659, RFC 8657 parameters): the rules on record sets, then through the validator and DNS."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from acme_server.services.ports import ChallengeType
from acme_server.validation import NetworkValidator
from acme_server.validation.caa import IssueValue, evaluate_caa, parse_issue_value
from acme_server.validation.dns01 import txt_record_value
from acme_server.validation.resolver import CAARecord, CAASet
from tests.validation.responders import KEY_AUTHORIZATION, ScriptedDNS, make_task

MakeValidator = Callable[..., NetworkValidator]
CA = ("ca.test",)


def caa(*records: tuple[int, str, str]) -> CAASet:
    return CAASet(owner="example.test", records=tuple(CAARecord(*record) for record in records))


ACCOUNT = "https://ca.test/acme/account/1"


def forbidden(
    relevant: CAASet,
    *,
    wildcard: bool = False,
    method: ChallengeType | None = None,
    account_uri: str | None = ACCOUNT,
) -> bool:
    reason = evaluate_caa(
        relevant, CA, "example.test", wildcard=wildcard, method=method, account_uri=account_uri
    )
    return reason is not None


def test_rfc8659_s3_empty_relevant_rrset_allows_issuance() -> None:
    assert not forbidden(CAASet(owner=None, records=()))


def test_rfc8659_s4_2_issue_naming_this_ca_allows_and_another_forbids() -> None:
    assert not forbidden(caa((0, "issue", "ca.test")))
    assert not forbidden(caa((0, "issue", "other.test"), (0, "ISSUE", " CA.Test ")))
    assert forbidden(caa((0, "issue", "other.test")))


def test_rfc8659_s4_2_issue_semicolon_forbids_everyone() -> None:
    assert forbidden(caa((0, "issue", ";")))


def test_rfc8659_s4_2_malformed_issue_value_authorizes_nobody() -> None:
    assert forbidden(caa((0, "issue", "ca.test junk")))
    assert forbidden(caa((0, "issue", "ca.test; novalue")))


def test_rfc8659_s4_2_only_iodef_puts_no_restriction() -> None:
    assert not forbidden(caa((0, "iodef", "mailto:security@example.test")))


def test_rfc8659_s4_3_issuewild_is_ignored_for_non_wildcard_names() -> None:
    assert not forbidden(caa((0, "issuewild", "other.test")))
    assert not forbidden(caa((0, "issuewild", ";"), (0, "issue", "ca.test")))


def test_rfc8659_s4_3_issuewild_replaces_issue_for_wildcard_names() -> None:
    assert forbidden(caa((0, "issue", "ca.test"), (0, "issuewild", "other.test")), wildcard=True)
    assert not forbidden(caa((0, "issue", "other.test"), (0, "issuewild", "ca.test")), wildcard=True)


def test_rfc8659_s4_3_wildcard_without_issuewild_uses_issue() -> None:
    assert forbidden(caa((0, "issue", "other.test")), wildcard=True)
    assert not forbidden(caa((0, "issue", "ca.test")), wildcard=True)


def test_rfc8659_s4_1_critical_unknown_tag_forbids_issuance() -> None:
    relevant = caa((0, "issue", "ca.test"), (128, "tbs", "unknown"))

    reason = evaluate_caa(relevant, CA, "example.test", wildcard=False)

    assert reason == "CAA record for example.test has an unknown critical property 'tbs' (RFC 8659 §4.1)"


def test_rfc8659_s4_1_non_critical_unknown_tag_and_critical_known_tag_are_fine() -> None:
    assert not forbidden(caa((0, "issue", "ca.test"), (0, "tbs", "unknown")))
    assert not forbidden(caa((128, "issue", "ca.test")))


def test_rfc8657_s4_validationmethods_limits_the_challenge_types() -> None:
    relevant = caa((0, "issue", "ca.test; validationmethods=dns-01,tls-alpn-01"))

    assert not forbidden(relevant, method=ChallengeType.DNS_01)
    assert forbidden(relevant, method=ChallengeType.HTTP_01)
    assert forbidden(relevant)  # unknown method: not authorized


def test_rfc8657_s3_accounturi_authorizes_only_the_account_with_that_url() -> None:
    relevant = caa((0, "issue", f"ca.test; accounturi={ACCOUNT}"))

    assert not forbidden(relevant)
    assert forbidden(relevant, account_uri="https://ca.test/acme/account/2")
    assert forbidden(relevant, account_uri=None)  # no account known: nothing bound to one matches


def test_rfc8657_s3_accounturi_is_compared_case_sensitively_and_its_tag_is_not() -> None:
    assert forbidden(caa((0, "issue", f"ca.test; accounturi={ACCOUNT.upper()}")))
    assert not forbidden(caa((0, "issue", f"ca.test; AccountURI={ACCOUNT}")))
    assert forbidden(caa((0, "issue", "ca.test; AccountURI=https://ca.test/acme/account/2")))


def test_rfc8657_s3_s4_a_repeated_parameter_makes_the_property_unsatisfiable() -> None:
    other = "https://ca.test/acme/account/2"
    assert forbidden(caa((0, "issue", f"ca.test; accounturi={ACCOUNT}; accounturi={other}")))
    doubled = "ca.test; validationmethods=dns-01; validationmethods=http-01"
    assert forbidden(caa((0, "issue", doubled)), method=ChallengeType.DNS_01)


def test_rfc8657_s4_method_names_match_exactly_and_a_malformed_list_authorizes_nothing() -> None:
    assert forbidden(caa((0, "issue", "ca.test; validationmethods=HTTP-01")), method=ChallengeType.HTTP_01)
    assert forbidden(
        caa((0, "issue", "ca.test; validationmethods=http-01,,dns-01")), method=ChallengeType.DNS_01
    )
    unknown_first = caa((0, "issue", "ca.test; validationmethods=xyz-01,dns-account-01"))
    assert not forbidden(unknown_first, method=ChallengeType.DNS_ACCOUNT_01)


def test_unknown_parameters_are_ignored() -> None:
    assert not forbidden(caa((0, "issue", "ca.test; policy=ev")))


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("ca.test", IssueValue("ca.test", {})),
        (" Ca.Test ;  key=value; other = x ", IssueValue("ca.test", {"key": "value", "other": "x"})),
        (";", IssueValue(None, {})),
        ("", IssueValue(None, {})),
        ("ca.test;", IssueValue("ca.test", {})),
        ("-ca.test", None),
        ("ca.test; =x", None),
        ("ca.test; k=a;b", None),
    ],
)
def test_rfc8659_s4_2_issue_value_grammar(value: str, parsed: IssueValue | None) -> None:
    assert parse_issue_value(value) == parsed


# --- through DNS and the validator -------------------------------------------------------------


def answer_dns01(dns_server: ScriptedDNS, name: str = "example.test") -> None:
    dns_server.add(f"_acme-challenge.{name}", "TXT", f'"{txt_record_value(KEY_AUTHORIZATION)}"')


async def test_caa_allowing_this_ca_keeps_the_challenge_valid(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    answer_dns01(dns_server)
    dns_server.add("example.test", "CAA", '0 issue "ca.test"')

    outcome = await make_validator(caa_identities=CA).validate(
        make_task(ChallengeType.DNS_01, "example.test")
    )

    assert outcome.valid, outcome.detail


async def test_caa_forbidding_this_ca_makes_a_passed_challenge_invalid(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    answer_dns01(dns_server)
    dns_server.add("example.test", "CAA", '0 issue "other.test"')

    outcome = await make_validator(caa_identities=CA).validate(
        make_task(ChallengeType.DNS_01, "example.test")
    )

    assert not outcome.valid
    assert outcome.error_type == "caa"
    assert outcome.detail == (
        "CAA record for example.test prevents issuance for example.test: no issue property authorizes this CA"
    )
    assert outcome.records[0]["query"] == "_acme-challenge.example.test"


async def test_rfc8659_s3_tree_climbing_finds_the_parent_record_and_never_asks_the_root(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    answer_dns01(dns_server, "www.sub.example.test")
    dns_server.add("test", "CAA", '0 issue "other.test"')

    outcome = await make_validator(caa_identities=CA).validate(
        make_task(ChallengeType.DNS_01, "www.sub.example.test")
    )

    assert outcome.error_type == "caa"
    assert outcome.detail is not None
    assert outcome.detail.startswith("CAA record for test prevents issuance for www.sub.example.test")
    caa_queries = [name for name, rdtype in dns_server.queries if rdtype == "CAA"]
    assert caa_queries == ["www.sub.example.test", "sub.example.test", "example.test", "test"]


async def test_rfc8659_s3_closest_record_set_wins(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    answer_dns01(dns_server, "www.example.test")
    dns_server.add("www.example.test", "CAA", '0 issue "ca.test"')
    dns_server.add("example.test", "CAA", '0 issue "other.test"')

    outcome = await make_validator(caa_identities=CA).validate(
        make_task(ChallengeType.DNS_01, "www.example.test")
    )

    assert outcome.valid, outcome.detail


async def test_rfc8659_s3_cname_at_a_node_is_followed(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    answer_dns01(dns_server, "www.example.test")
    dns_server.add_cname("www.example.test", "cdn.provider.test")
    dns_server.add("cdn.provider.test", "CAA", '0 issue "other.test"')

    outcome = await make_validator(caa_identities=CA).validate(
        make_task(ChallengeType.DNS_01, "www.example.test")
    )

    assert outcome.error_type == "caa"


async def test_caa_lookup_failure_refuses_as_dns_error(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    answer_dns01(dns_server)
    dns_server.fail("example.test")

    outcome = await make_validator(caa_identities=CA).validate(
        make_task(ChallengeType.DNS_01, "example.test")
    )

    assert outcome.error_type == "dns"
    assert outcome.detail == (
        "DNS problem: server failure (SERVFAIL) looking up CAA for example.test "
        "(while checking CAA for example.test)"
    )


async def test_check_caa_for_a_wildcard_honours_issuewild(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    dns_server.add("example.test", "CAA", '0 issue "ca.test"', '0 issuewild ";"')
    validator = make_validator(caa_identities=CA)

    assert await validator.check_caa("example.test", wildcard=False) is None
    refused = await validator.check_caa("*.example.test", wildcard=True)

    assert refused is not None
    assert refused.error_type == "caa"
    assert refused.detail == (
        "CAA record for example.test prevents issuance for example.test: "
        "no issuewild property authorizes this CA"
    )


async def test_without_caa_identities_caa_is_not_looked_up(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    answer_dns01(dns_server)
    dns_server.add("example.test", "CAA", '0 issue ";"')

    outcome = await make_validator().validate(make_task(ChallengeType.DNS_01, "example.test"))

    assert outcome.valid
    assert all(rdtype != "CAA" for _, rdtype in dns_server.queries)


async def test_failed_challenge_does_not_look_up_caa(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    outcome = await make_validator(caa_identities=CA).validate(
        make_task(ChallengeType.DNS_01, "example.test")
    )

    assert outcome.error_type == "dns"
    assert all(rdtype != "CAA" for _, rdtype in dns_server.queries)


async def test_rfc8657_through_dns_accounturi_and_validationmethods_decide_after_the_challenge(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    answer_dns01(dns_server)
    dns_server.add(
        "example.test", "CAA", f'0 issue "ca.test; accounturi={ACCOUNT}; validationmethods=dns-01"'
    )
    validator = make_validator(caa_identities=CA)
    task = make_task(ChallengeType.DNS_01, "example.test")

    mine = await validator.validate(dataclasses.replace(task, account_uri=ACCOUNT))
    theirs = await validator.validate(dataclasses.replace(task, account_uri=ACCOUNT + "0"))

    assert mine.valid, mine.detail
    assert (theirs.valid, theirs.error_type) == (False, "caa")
    assert theirs.detail == (
        "CAA record for example.test prevents issuance for example.test: no issue property authorizes this CA"
    )


async def test_rfc8659_s4_3_a_wildcard_task_is_held_to_issuewild(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    answer_dns01(dns_server)
    dns_server.add("example.test", "CAA", '0 issue "ca.test"', '0 issuewild ";"')
    task = make_task(ChallengeType.DNS_01, "example.test")

    outcome = await make_validator(caa_identities=CA).validate(dataclasses.replace(task, wildcard=True))

    assert (outcome.valid, outcome.error_type) == (False, "caa")
