"""NetworkValidator as ports.Validator: identifiers it refuses, blocked addresses, and never raising."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_address

import pytest

from acme_server.services.ports import ChallengeType, Validator
from acme_server.validation import NetworkValidator, ValidationSettings
from acme_server.validation.blocklist import blocking_network
from tests.validation.conftest import ServerPool
from tests.validation.responders import ScriptedDNS, make_task

MakeValidator = Callable[..., NetworkValidator]
BLOCKED = (IPv4Network("169.254.0.0/16"), IPv6Network("fe80::/10"))


async def test_network_validator_answers_through_the_ports_validator_protocol() -> None:
    """What services see (ports.Validator): an outcome for a task, never an exception."""
    async with NetworkValidator(ValidationSettings()) as validator:
        port: Validator = validator  # mypy checks the Protocol; the call below checks the behaviour
        outcome = await port.validate(make_task(ChallengeType.HTTP_01, "exa mple.test"))
    assert (outcome.error_type, outcome.detail) == (
        "malformed",
        "'exa mple.test' is not a valid DNS name to validate",
    )


@pytest.mark.parametrize("challenge", list(ChallengeType))
@pytest.mark.parametrize(
    "value", ["exa mple.test", "-bad.test", "a..test", "x" * 64 + ".test", "*.example.test"]
)
async def test_invalid_dns_identifier_is_malformed_without_any_lookup(
    dns_server: ScriptedDNS, make_validator: MakeValidator, challenge: ChallengeType, value: str
) -> None:
    outcome = await make_validator().validate(make_task(challenge, value))

    assert outcome.error_type == "malformed"
    assert outcome.detail == f"{value!r} is not a valid DNS name to validate"
    assert dns_server.queries == []


async def test_invalid_ip_identifier_is_malformed(make_validator: MakeValidator) -> None:
    outcome = await make_validator().validate(make_task(ChallengeType.HTTP_01, "300.1.2.3", ip=True))

    assert outcome.error_type == "malformed"
    assert outcome.detail == "'300.1.2.3' is not an IP address"


@pytest.mark.parametrize("challenge", [ChallengeType.HTTP_01, ChallengeType.TLS_ALPN_01])
async def test_blocked_ip_identifier_is_refused_without_connecting(
    servers: ServerPool, make_validator: MakeValidator, challenge: ChallengeType
) -> None:
    port = await servers.silent()
    validator = make_validator(
        http01_port=port, tlsalpn01_port=port, timeout=5.0, blocked_networks=(IPv4Network("127.0.0.0/8"),)
    )

    outcome = await validator.validate(make_task(challenge, "127.0.0.1", ip=True))

    assert outcome.error_type == "connection"
    assert outcome.detail == (
        "refusing to connect to 127.0.0.1: every address is in a blocked network: 127.0.0.1 (in 127.0.0.0/8)"
    )
    assert outcome.records[0]["addresses_resolved"] == ["127.0.0.1"]
    assert "address_used" not in outcome.records[0]


def test_ipv4_mapped_ipv6_address_is_blocked_like_its_ipv4_address() -> None:
    assert blocking_network(IPv6Address("::ffff:169.254.169.254"), BLOCKED) == IPv4Network("169.254.0.0/16")
    assert blocking_network(ip_address("fe80::1"), BLOCKED) == IPv6Network("fe80::/10")
    assert blocking_network(ip_address("127.0.0.1"), BLOCKED) is None


async def test_dns_name_with_trailing_dot_and_capitals_is_normalised(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    outcome = await make_validator().validate(make_task(ChallengeType.TLS_ALPN_01, "Example.TEST."))

    assert outcome.error_type == "dns"
    assert ("example.test", "A") in dns_server.queries
