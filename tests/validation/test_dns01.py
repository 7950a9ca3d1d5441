"""dns-01 (RFC 8555 §8.4) against the scripted DNS server."""

from __future__ import annotations

from collections.abc import Callable

from acme_server.services.ports import ChallengeType
from acme_server.validation import NetworkValidator
from acme_server.validation.dns01 import txt_record_value
from tests.validation.responders import KEY_AUTHORIZATION, ScriptedDNS, make_task

DNS = ChallengeType.DNS_01
MakeValidator = Callable[..., NetworkValidator]
DIGEST = txt_record_value(KEY_AUTHORIZATION)


def test_rfc8555_s8_4_txt_value_is_unpadded_base64url_of_sha256() -> None:
    # SHA-256 of the RFC 8555 §8.1 example key authorization: 43 characters, the "=" padding dropped.
    assert DIGEST == "lCM7cZyQXcVHK2nnW3jjAhNT3Fvm18UN-kWZZknKoYM"


async def test_rfc8555_s8_4_valid_when_a_txt_record_holds_the_digest(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    dns_server.add("_acme-challenge.example.test", "TXT", '"unrelated"', f'"{DIGEST}"')

    outcome = await make_validator().validate(make_task(DNS, "example.test"))

    assert outcome.valid, outcome.detail
    assert outcome.records == (
        {"hostname": "example.test", "query": "_acme-challenge.example.test", "record_type": "TXT"},
    )
    assert ("_acme-challenge.example.test", "TXT") in dns_server.queries


async def test_txt_record_split_into_several_strings_is_joined(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    dns_server.add("_acme-challenge.example.test", "TXT", f'"{DIGEST[:20]}" "{DIGEST[20:]}"')

    outcome = await make_validator().validate(make_task(DNS, "example.test"))

    assert outcome.valid, outcome.detail


async def test_rfc8555_s8_4_cname_delegation_of_the_challenge_name_is_followed(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    dns_server.add_cname("_acme-challenge.example.test", "example.test.validation.test")
    dns_server.add("example.test.validation.test", "TXT", f'"{DIGEST}"')

    outcome = await make_validator().validate(make_task(DNS, "example.test"))

    assert outcome.valid, outcome.detail


async def test_wildcard_authorization_validates_the_base_domain(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    # RFC 8555 §8.4: for *.example.test the record is at _acme-challenge.example.test; the task
    # carries the base domain (ports.ValidationTask).
    dns_server.add("_acme-challenge.example.test", "TXT", f'"{DIGEST}"')

    outcome = await make_validator().validate(make_task(DNS, "Example.Test."))

    assert outcome.valid, outcome.detail


async def test_wrong_txt_value_is_incorrect_response_without_echoing_it(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    dns_server.add("_acme-challenge.example.test", "TXT", '"stale-value"', '"another"')

    outcome = await make_validator().validate(make_task(DNS, "example.test"))

    assert not outcome.valid
    assert outcome.error_type == "incorrectResponse"
    # Issue 10 defect 8: what the TXT records hold is never copied into the error, only their count.
    assert outcome.detail == (
        "incorrect TXT record at _acme-challenge.example.test: none of the 2 found holds the expected digest"
    )


async def test_nxdomain_is_dns_error_naming_the_name_and_type(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    outcome = await make_validator().validate(make_task(DNS, "example.test"))

    assert not outcome.valid
    assert outcome.error_type == "dns"
    assert outcome.detail == "DNS problem: NXDOMAIN looking up TXT for _acme-challenge.example.test"


async def test_name_without_txt_records_is_dns_error(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    dns_server.add("_acme-challenge.example.test", "A", "127.0.0.1")

    outcome = await make_validator().validate(make_task(DNS, "example.test"))

    assert outcome.error_type == "dns"
    assert outcome.detail == "DNS problem: no TXT records found for _acme-challenge.example.test"


async def test_servfail_is_dns_error(dns_server: ScriptedDNS, make_validator: MakeValidator) -> None:
    dns_server.fail("_acme-challenge.example.test")

    outcome = await make_validator().validate(make_task(DNS, "example.test"))

    assert outcome.error_type == "dns"
    assert (
        outcome.detail
        == "DNS problem: server failure (SERVFAIL) looking up TXT for _acme-challenge.example.test"
    )


async def test_unanswered_query_times_out_as_dns_error(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    dns_server.drop("_acme-challenge.example.test")

    outcome = await make_validator(timeout=0.3).validate(make_task(DNS, "example.test"))

    assert outcome.error_type == "dns"
    assert outcome.detail == "DNS problem: query timed out looking up TXT for _acme-challenge.example.test"


async def test_rfc8738_s7_ip_identifier_is_refused_for_dns01(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    outcome = await make_validator().validate(make_task(DNS, "127.0.0.1", ip=True))

    assert outcome.error_type == "malformed"
    assert outcome.detail == "dns-01 cannot validate an IP address identifier (RFC 8738 §7)"
    assert dns_server.queries == []
