"""tls-alpn-01 (RFC 8737, RFC 8738 §6 for IPs) against loopback TLS responders with built certificates."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from ipaddress import ip_address

import pytest
from cryptography import x509

from acme_server.services.ports import ChallengeType
from acme_server.validation import NetworkValidator
from tests.validation.conftest import ServerPool
from tests.validation.responders import (
    KEY_AUTHORIZATION,
    ScriptedDNS,
    acme_identifier_value,
    challenge_certificate,
    make_task,
    unused_port,
)

TLS = ChallengeType.TLS_ALPN_01
MakeValidator = Callable[..., NetworkValidator]
GOOD = acme_identifier_value(KEY_AUTHORIZATION)


def dns_names(*names: str) -> list[x509.GeneralName]:
    return [x509.DNSName(name) for name in names]


async def test_rfc8737_s3_valid_for_a_dns_name_with_sni_and_alpn(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    certificate = challenge_certificate(dns_names("example.test"), extension_value=GOOD)
    responder = await servers.tls(certificate, expected_sni="example.test")

    outcome = await make_validator(tlsalpn01_port=responder.port).validate(make_task(TLS, "example.test"))

    assert outcome.valid, outcome.detail
    assert responder.server_names == ["example.test"]
    assert outcome.records == (
        {
            "hostname": "example.test",
            "port": responder.port,
            "sni": "example.test",
            "addresses_resolved": ["127.0.0.1"],
            "address_used": "127.0.0.1",
        },
    )


async def test_rfc8738_s6_ipv4_identifier_sends_reverse_name_as_sni(
    servers: ServerPool, make_validator: MakeValidator
) -> None:
    certificate = challenge_certificate([x509.IPAddress(ip_address("127.0.0.1"))], extension_value=GOOD)
    responder = await servers.tls(certificate, expected_sni="1.0.0.127.in-addr.arpa")

    outcome = await make_validator(tlsalpn01_port=responder.port).validate(
        make_task(TLS, "127.0.0.1", ip=True)
    )

    assert outcome.valid, outcome.detail
    assert responder.server_names == ["1.0.0.127.in-addr.arpa"]


async def test_rfc8738_s6_ipv6_identifier_sends_ip6_arpa_name_as_sni(
    servers: ServerPool, make_validator: MakeValidator
) -> None:
    reverse = "1." + "0." * 31 + "ip6.arpa"
    certificate = challenge_certificate([x509.IPAddress(ip_address("::1"))], extension_value=GOOD)
    responder = await servers.tls(certificate, host="::1", expected_sni=reverse)

    outcome = await make_validator(tlsalpn01_port=responder.port).validate(make_task(TLS, "::1", ip=True))

    assert outcome.valid, outcome.detail
    assert responder.server_names == [reverse]


async def test_rfc8738_s6_ip_identifier_needs_an_ip_address_san(
    servers: ServerPool, make_validator: MakeValidator
) -> None:
    certificate = challenge_certificate(dns_names("127.0.0.1"), extension_value=GOOD)
    responder = await servers.tls(certificate)

    outcome = await make_validator(tlsalpn01_port=responder.port).validate(
        make_task(TLS, "127.0.0.1", ip=True)
    )

    assert outcome.error_type == "incorrectResponse"
    assert outcome.detail == (
        f"the certificate from 127.0.0.1:{responder.port} [127.0.0.1] must name only 127.0.0.1 in "
        "subjectAltName; entries found: 1"
    )


async def test_rfc8737_s3_acme_identifier_must_be_critical(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    certificate = challenge_certificate(dns_names("example.test"), extension_value=GOOD, critical=False)
    responder = await servers.tls(certificate)

    outcome = await make_validator(tlsalpn01_port=responder.port).validate(make_task(TLS, "example.test"))

    assert outcome.error_type == "incorrectResponse"
    assert outcome.detail == (
        f"the acmeIdentifier extension in the certificate from example.test:{responder.port} [127.0.0.1] "
        "is not critical"
    )


async def test_rfc8737_s3_acme_identifier_must_hold_the_key_authorization_digest(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    wrong = acme_identifier_value("another-token.another-thumbprint")
    certificate = challenge_certificate(dns_names("example.test"), extension_value=wrong)
    responder = await servers.tls(certificate)

    outcome = await make_validator(tlsalpn01_port=responder.port).validate(make_task(TLS, "example.test"))

    assert outcome.error_type == "incorrectResponse"
    assert outcome.detail == (
        f"the acmeIdentifier extension from example.test:{responder.port} [127.0.0.1] "
        "does not hold the key authorization digest"
    )


@pytest.mark.parametrize(
    "value",
    [
        hashlib.sha256(KEY_AUTHORIZATION.encode()).digest(),  # the digest without the OCTET STRING header
        b"\x04\x21" + hashlib.sha256(KEY_AUTHORIZATION.encode()).digest() + b"\x00",  # wrong length
        b"\x0c\x20" + hashlib.sha256(KEY_AUTHORIZATION.encode()).digest(),  # UTF8String, not OCTET STRING
    ],
    ids=["bare-digest", "33-bytes", "utf8string"],
)
async def test_rfc8737_s3_acme_identifier_must_be_a_der_octet_string_of_32_bytes(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator, value: bytes
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    certificate = challenge_certificate(dns_names("example.test"), extension_value=value)
    responder = await servers.tls(certificate)

    outcome = await make_validator(tlsalpn01_port=responder.port).validate(make_task(TLS, "example.test"))

    assert outcome.error_type == "incorrectResponse"
    assert outcome.detail is not None
    assert outcome.detail.endswith("is not a DER OCTET STRING of 32 bytes")


async def test_rfc8737_s3_missing_acme_identifier_is_incorrect_response(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    certificate = challenge_certificate(dns_names("example.test"), extension_value=None)
    responder = await servers.tls(certificate)

    outcome = await make_validator(tlsalpn01_port=responder.port).validate(make_task(TLS, "example.test"))

    assert outcome.error_type == "incorrectResponse"
    assert outcome.detail is not None
    assert outcome.detail.endswith("has no acmeIdentifier extension")


@pytest.mark.parametrize(
    ("names", "shown"),
    [
        (dns_names("example.test", "other.test"), 2),
        (dns_names("other.test"), 1),
        ([], 0),
    ],
    ids=["two-sans", "other-name", "no-san"],
)
async def test_rfc8737_s3_san_must_be_exactly_the_identifier(
    dns_server: ScriptedDNS,
    servers: ServerPool,
    make_validator: MakeValidator,
    names: list[x509.GeneralName],
    shown: int,
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    responder = await servers.tls(challenge_certificate(names, extension_value=GOOD))

    outcome = await make_validator(tlsalpn01_port=responder.port).validate(make_task(TLS, "example.test"))

    assert outcome.error_type == "incorrectResponse"
    assert outcome.detail == (
        f"the certificate from example.test:{responder.port} [127.0.0.1] must name only example.test in "
        f"subjectAltName; entries found: {shown}"
    )


@pytest.mark.parametrize("alpn", [[], ["http/1.1"]], ids=["no-alpn", "other-protocol"])
async def test_rfc8737_s3_acme_tls_1_must_be_negotiated(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator, alpn: list[str]
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    certificate = challenge_certificate(dns_names("example.test"), extension_value=GOOD)
    responder = await servers.tls(certificate, alpn=alpn)

    outcome = await make_validator(tlsalpn01_port=responder.port).validate(make_task(TLS, "example.test"))

    assert outcome.error_type == "tls"
    assert outcome.detail == (
        f"example.test:{responder.port} [127.0.0.1] did not negotiate the ALPN protocol 'acme-tls/1'"
    )


async def test_handshake_refused_by_the_server_is_tls_error(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    certificate = challenge_certificate(dns_names("example.test"), extension_value=GOOD)
    responder = await servers.tls(certificate, expected_sni="somewhere-else.test")

    outcome = await make_validator(tlsalpn01_port=responder.port).validate(make_task(TLS, "example.test"))

    assert outcome.error_type == "tls", outcome.detail
    assert outcome.detail is not None
    assert outcome.detail.startswith(f"TLS handshake with 127.0.0.1 port {responder.port} failed")


async def test_connection_refused_is_connection_error(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    port = unused_port()

    outcome = await make_validator(tlsalpn01_port=port).validate(make_task(TLS, "example.test"))

    assert outcome.error_type == "connection"
    assert outcome.detail is not None
    assert outcome.detail.startswith(f"could not connect to 127.0.0.1 port {port}")


async def test_server_that_never_completes_the_handshake_times_out(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    port = await servers.silent()

    outcome = await make_validator(tlsalpn01_port=port, timeout=0.3).validate(make_task(TLS, "example.test"))

    assert outcome.error_type == "connection"
    assert outcome.detail == f"timeout during the TLS handshake with 127.0.0.1 port {port}"
