"""ValidationSettings: defaults and the values it refuses when built."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Any

import pytest

from acme_server.validation import ValidationSettings
from acme_server.validation.blocklist import ALWAYS_BLOCKED, LOOPBACK, PRIVATE


def test_defaults() -> None:
    settings = ValidationSettings()

    assert settings.http01_port == 80
    assert settings.tlsalpn01_port == 443
    assert settings.dns_resolver is None
    assert settings.timeout == 10.0
    assert settings.max_redirects == 10
    assert settings.max_body_bytes == 64 * 1024
    assert settings.blocked_networks == ()
    assert settings.allow_loopback is False
    assert settings.block_private is False
    assert settings.own_addresses == ()
    assert settings.blocked == ALWAYS_BLOCKED + LOOPBACK
    assert settings.caa_identities == ()
    assert settings.user_agent == "acme-server-va"
    assert settings.redirect_ports == {80, 443}


def test_redirect_ports_include_the_configured_challenge_ports() -> None:
    assert ValidationSettings(http01_port=5002, tlsalpn01_port=5001).redirect_ports == {80, 443, 5001, 5002}


def test_block_list_adds_private_own_addresses_and_the_deployments_networks() -> None:
    settings = ValidationSettings(
        allow_loopback=True,
        block_private=True,
        own_addresses=(IPv4Address("127.0.0.1"), IPv4Address("192.0.2.2"), IPv6Address("2001:db8::1")),
        blocked_networks=(IPv4Network("198.51.100.0/24"),),
    )

    # A loopback own address is exempt once loopback is allowed (the server and responders share it).
    assert settings.blocked == (
        *ALWAYS_BLOCKED,
        *PRIVATE,
        IPv4Network("192.0.2.2/32"),
        IPv6Network("2001:db8::1/128"),
        IPv4Network("198.51.100.0/24"),
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"http01_port": 0}, "http01_port must be a TCP/UDP port"),
        ({"tlsalpn01_port": 70000}, "tlsalpn01_port must be a TCP/UDP port"),
        ({"dns_resolver": ("dns.example", 53)}, "dns_resolver host must be an IP address"),
        ({"dns_resolver": ("127.0.0.1", 0)}, "dns_resolver port must be a TCP/UDP port"),
        ({"dns_resolver": "127.0.0.1:53"}, "dns_resolver must be a (host, port) pair"),
        ({"timeout": 0}, "timeout must be a positive number"),
        ({"timeout": float("inf")}, "timeout must be a positive number"),
        ({"max_redirects": -1}, "max_redirects must be a non-negative integer"),
        ({"max_body_bytes": 0}, "max_body_bytes must be a positive integer"),
        ({"blocked_networks": ("10.0.0.0/8",)}, "blocked_networks entries must be IPv4Network/IPv6Network"),
        ({"own_addresses": ("127.0.0.1",)}, "own_addresses must be a tuple of IPv4Address/IPv6Address"),
        ({"allow_loopback": "yes"}, "allow_loopback and block_private must be True or False"),
        ({"caa_identities": ("ca.test; x=y",)}, "caa_identities entries must be issuer domain names"),
        ({"caa_identities": "ca.test"}, "caa_identities must be a tuple"),
        ({"user_agent": "va\r\nX-Injected: 1"}, "user_agent must be a non-empty single line"),
    ],
)
def test_invalid_values_are_refused_with_a_clear_message(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ValidationSettings(**options)
