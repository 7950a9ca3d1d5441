"""http-01 (RFC 8555 §8.3) against a loopback responder, with names served by the scripted DNS server."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from acme_server.services.ports import ChallengeType
from acme_server.validation import NetworkValidator
from tests.validation.conftest import ServerPool
from tests.validation.responders import (
    CHALLENGE_PATH,
    KEY_AUTHORIZATION,
    TOKEN,
    Reply,
    ScriptedDNS,
    challenge_certificate,
    make_task,
    server_context,
    unused_port,
)

HTTP = ChallengeType.HTTP_01
MakeValidator = Callable[..., NetworkValidator]


async def test_rfc8555_s8_3_valid_when_body_is_key_authorization_with_trailing_whitespace(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    responder = await servers.http()
    responder.routes[CHALLENGE_PATH] = Reply(body=KEY_AUTHORIZATION.encode() + b" \r\n\t\n")
    validator = make_validator(http01_port=responder.port, user_agent="test-va/1")

    outcome = await validator.validate(make_task(HTTP, "example.test"))

    assert outcome.valid, outcome.detail
    assert outcome.error_type is None
    [request] = responder.requests
    assert request.path == f"/.well-known/acme-challenge/{TOKEN}"
    assert request.headers["host"] == "example.test"
    assert request.headers["user-agent"] == "test-va/1"
    assert outcome.records == (
        {
            "hostname": "example.test",
            "port": responder.port,
            "url": f"http://example.test:{responder.port}{CHALLENGE_PATH}",
            "addresses_resolved": ["127.0.0.1"],
            "address_used": "127.0.0.1",
        },
    )


async def test_rfc8555_s8_3_leading_whitespace_is_not_ignored(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    responder = await servers.http()
    responder.routes[CHALLENGE_PATH] = Reply(body=b" " + KEY_AUTHORIZATION.encode())

    outcome = await make_validator(http01_port=responder.port).validate(make_task(HTTP, "example.test"))

    assert not outcome.valid
    assert outcome.error_type == "incorrectResponse"


async def test_wrong_body_is_incorrect_response_naming_the_url_and_length_only(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    responder = await servers.http()
    responder.routes[CHALLENGE_PATH] = Reply(body=b"not-the-key-authorization" * 20)

    outcome = await make_validator(http01_port=responder.port).validate(make_task(HTTP, "example.test"))

    assert not outcome.valid
    assert outcome.error_type == "incorrectResponse"
    assert outcome.detail is not None
    assert outcome.detail == (
        f"the key authorization did not match: got 500 bytes from http://example.test:{responder.port}"
        f"{CHALLENGE_PATH}"
    )


async def test_status_404_is_unauthorized_with_the_status_in_the_detail(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    responder = await servers.http()

    outcome = await make_validator(http01_port=responder.port).validate(make_task(HTTP, "example.test"))

    assert not outcome.valid
    assert outcome.error_type == "unauthorized"
    assert outcome.detail == (
        f"invalid response from http://example.test:{responder.port}{CHALLENGE_PATH}: HTTP status 404"
    )


async def test_connection_refused_is_connection_error(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    port = unused_port()

    outcome = await make_validator(http01_port=port).validate(make_task(HTTP, "example.test"))

    assert not outcome.valid
    assert outcome.error_type == "connection"
    assert outcome.detail is not None
    assert outcome.detail.startswith(
        f"could not connect to http://example.test:{port}{CHALLENGE_PATH} [127.0.0.1]"
    )
    assert outcome.records[0]["address_used"] == "127.0.0.1"


async def test_server_that_never_answers_times_out_as_connection_error(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    port = await servers.silent()

    outcome = await make_validator(http01_port=port, timeout=0.3).validate(make_task(HTTP, "example.test"))

    assert not outcome.valid
    assert outcome.error_type == "connection"
    assert outcome.detail == f"timeout while fetching http://example.test:{port}{CHALLENGE_PATH} [127.0.0.1]"


async def test_response_that_is_not_http_is_connection_error(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    responder = await servers.http()
    responder.routes[CHALLENGE_PATH] = Reply(raw=b"SSH-2.0-OpenSSH_9.6\r\n\r\n")

    outcome = await make_validator(http01_port=responder.port).validate(make_task(HTTP, "example.test"))

    assert outcome.error_type == "connection"
    assert outcome.detail is not None
    assert outcome.detail.startswith(
        f"error fetching http://example.test:{responder.port}{CHALLENGE_PATH} [127.0.0.1]"
    )


async def test_unresolvable_name_is_dns_error(dns_server: ScriptedDNS, make_validator: MakeValidator) -> None:
    outcome = await make_validator(http01_port=unused_port()).validate(make_task(HTTP, "missing.test"))

    assert not outcome.valid
    assert outcome.error_type == "dns"
    assert outcome.detail == "DNS problem: NXDOMAIN looking up A or AAAA for missing.test"
    assert outcome.records[0]["addresses_resolved"] == []


async def test_ip_identifier_connects_to_the_address_with_it_as_host_header(
    servers: ServerPool, make_validator: MakeValidator
) -> None:
    responder = await servers.http()
    responder.routes[CHALLENGE_PATH] = Reply(body=KEY_AUTHORIZATION.encode())

    outcome = await make_validator(http01_port=responder.port).validate(make_task(HTTP, "127.0.0.1", ip=True))

    assert outcome.valid, outcome.detail
    assert responder.requests[0].headers["host"] == "127.0.0.1"
    assert outcome.records[0]["url"] == f"http://127.0.0.1:{responder.port}{CHALLENGE_PATH}"


async def test_rfc8738_s5_ipv6_identifier_uses_brackets_in_url_and_host_header(
    servers: ServerPool, make_validator: MakeValidator
) -> None:
    responder = await servers.http("::1")
    responder.routes[CHALLENGE_PATH] = Reply(body=KEY_AUTHORIZATION.encode())

    outcome = await make_validator(http01_port=responder.port).validate(make_task(HTTP, "::1", ip=True))

    assert outcome.valid, outcome.detail
    assert responder.requests[0].headers["host"] == "[::1]"
    assert outcome.records[0]["url"] == f"http://[::1]:{responder.port}{CHALLENGE_PATH}"


async def test_falls_back_from_ipv4_to_ipv6_when_ipv4_refuses(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator
) -> None:
    responder = await servers.http("::1")
    responder.routes[CHALLENGE_PATH] = Reply(body=KEY_AUTHORIZATION.encode())
    dns_server.add("dual.test", "A", "127.0.0.1")
    dns_server.add("dual.test", "AAAA", "::1")

    outcome = await make_validator(http01_port=responder.port).validate(make_task(HTTP, "dual.test"))

    assert outcome.valid, outcome.detail
    assert [record["address_used"] for record in outcome.records] == ["127.0.0.1", "::1"]
    assert outcome.records[0]["addresses_resolved"] == ["127.0.0.1", "::1"]


async def test_rfc8555_s8_3_redirect_to_another_path_and_host_is_followed(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    dns_server.add("central.test", "A", "127.0.0.1")
    responder = await servers.http()
    target = f"http://central.test:{responder.port}/acme/{TOKEN}?from=example"
    responder.routes[CHALLENGE_PATH] = Reply(302, headers={"Location": target})
    responder.routes[f"/acme/{TOKEN}?from=example"] = Reply(body=KEY_AUTHORIZATION.encode())

    outcome = await make_validator(http01_port=responder.port).validate(make_task(HTTP, "example.test"))

    assert outcome.valid, outcome.detail
    assert [request.headers["host"] for request in responder.requests] == ["example.test", "central.test"]
    assert [record["url"] for record in outcome.records] == [
        f"http://example.test:{responder.port}{CHALLENGE_PATH}",
        target,
    ]


async def test_relative_redirect_is_resolved_against_the_current_url(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    responder = await servers.http()
    responder.routes[CHALLENGE_PATH] = Reply(301, headers={"Location": "../moved"})
    responder.routes["/.well-known/moved"] = Reply(body=KEY_AUTHORIZATION.encode())

    outcome = await make_validator(http01_port=responder.port).validate(make_task(HTTP, "example.test"))

    assert outcome.valid, outcome.detail
    assert responder.requests[1].path == "/.well-known/moved"


async def test_redirect_loop_stops_after_max_redirects(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    responder = await servers.http()
    responder.routes[CHALLENGE_PATH] = Reply(302, headers={"Location": "/loop/a"})
    responder.routes["/loop/a"] = Reply(307, headers={"Location": "/loop/b"})
    responder.routes["/loop/b"] = Reply(308, headers={"Location": "/loop/a"})

    validator = make_validator(http01_port=responder.port, max_redirects=3)
    outcome = await validator.validate(make_task(HTTP, "example.test"))

    assert not outcome.valid
    assert outcome.error_type == "connection"
    assert outcome.detail is not None
    assert outcome.detail.startswith("too many redirects: more than 3")
    assert len(responder.requests) == 4  # the first request and three redirects
    assert len(outcome.records) == 4


async def test_redirect_to_a_blocked_address_is_refused_without_connecting(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    dns_server.add("metadata.test", "A", "169.254.169.254")
    responder = await servers.http()
    responder.routes[CHALLENGE_PATH] = Reply(
        302, headers={"Location": f"http://metadata.test:{responder.port}/"}
    )

    outcome = await make_validator(http01_port=responder.port).validate(make_task(HTTP, "example.test"))

    assert not outcome.valid
    assert outcome.error_type == "connection"
    assert outcome.detail == (
        "refusing to connect to metadata.test: every address is in a blocked network: "
        "169.254.169.254 (in 169.254.0.0/16)"
    )
    assert outcome.records[-1]["addresses_resolved"] == ["169.254.169.254"]
    assert "address_used" not in outcome.records[-1]


async def test_redirect_to_a_blocked_ip_literal_is_refused(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    responder = await servers.http()
    responder.routes[CHALLENGE_PATH] = Reply(302, headers={"Location": f"http://[fe80::1]:{responder.port}/"})

    outcome = await make_validator(http01_port=responder.port).validate(make_task(HTTP, "example.test"))

    assert outcome.error_type == "connection"
    assert outcome.detail is not None
    assert "fe80::1 (in fe80::/10)" in outcome.detail


@pytest.mark.parametrize(
    ("location", "why"),
    [
        ("ftp://example.test/file", 'only "http" and "https" are followed'),
        ("http://example.test:8081/x", "only ports 80, 443"),
        ("http://exa_mple.test/x", "its host is neither a DNS name nor an IP address"),
    ],
)
async def test_redirect_outside_the_rule_is_refused_as_connection_error(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator, location: str, why: str
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    responder = await servers.http()
    responder.routes[CHALLENGE_PATH] = Reply(302, headers={"Location": location})

    outcome = await make_validator(http01_port=responder.port).validate(make_task(HTTP, "example.test"))

    assert outcome.error_type == "connection"
    assert outcome.detail is not None
    assert outcome.detail.startswith(f"refusing the redirect from http://example.test:{responder.port}")
    assert why in outcome.detail
    assert len(responder.requests) == 1


async def test_redirect_to_https_is_followed_with_sni_and_without_verifying_the_certificate(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator, tmp_path: Path
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    server_names: list[str | None] = []
    certificate = challenge_certificate([], extension_value=None)  # self-signed, names nothing
    https = await servers.http(
        tls=server_context(certificate, tmp_path, alpn=None, server_names=server_names)
    )
    https.routes["/secure"] = Reply(body=KEY_AUTHORIZATION.encode())
    http = await servers.http()
    http.routes[CHALLENGE_PATH] = Reply(
        301, headers={"Location": f"https://example.test:{https.port}/secure"}
    )

    validator = make_validator(http01_port=http.port, tlsalpn01_port=https.port)
    outcome = await validator.validate(make_task(HTTP, "example.test"))

    assert outcome.valid, outcome.detail
    assert server_names == ["example.test"]
    assert https.requests[0].headers["host"] == "example.test"


async def test_blocked_network_is_refused_without_connecting(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    responder = await servers.http()
    responder.routes[CHALLENGE_PATH] = Reply(body=KEY_AUTHORIZATION.encode())
    validator = make_validator(http01_port=responder.port, blocked_networks=(IPv4Network("127.0.0.0/8"),))

    outcome = await validator.validate(make_task(HTTP, "example.test"))

    assert not outcome.valid
    assert outcome.error_type == "connection"
    assert outcome.detail == (
        "refusing to connect to example.test: every address is in a blocked network: "
        "127.0.0.1 (in 127.0.0.0/8)"
    )
    assert responder.requests == []


async def test_body_larger_than_declared_limit_is_incorrect_response(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    responder = await servers.http()
    responder.routes[CHALLENGE_PATH] = Reply(body=KEY_AUTHORIZATION.encode() + b" " * 2000)

    outcome = await make_validator(http01_port=responder.port, max_body_bytes=1024).validate(
        make_task(HTTP, "example.test")
    )

    assert outcome.error_type == "incorrectResponse"
    assert outcome.detail is not None
    assert outcome.detail.endswith("is larger than 1024 bytes")


async def test_body_streamed_past_the_limit_without_length_is_incorrect_response(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    responder = await servers.http()
    responder.routes[CHALLENGE_PATH] = Reply(body=b"x" * 256 * 1024, declare_length=False)

    outcome = await make_validator(http01_port=responder.port).validate(make_task(HTTP, "example.test"))

    assert outcome.error_type == "incorrectResponse"
    assert outcome.detail is not None
    assert outcome.detail.endswith(f"is larger than {64 * 1024} bytes")


async def test_token_that_is_not_base64url_is_malformed_before_any_request(
    servers: ServerPool, make_validator: MakeValidator
) -> None:
    responder = await servers.http()
    task = make_task(HTTP, "127.0.0.1", ip=True, token="../../etc/passwd")

    outcome = await make_validator(http01_port=responder.port).validate(task)

    assert outcome.error_type == "malformed"
    assert responder.requests == []


async def test_rfc9112_s7_1_chunked_body_is_decoded(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    responder = await servers.http()
    body = KEY_AUTHORIZATION.encode()
    half = len(body) // 2
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:half], body[half:]))
    responder.routes[CHALLENGE_PATH] = Reply(
        raw=b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    )

    outcome = await make_validator(http01_port=responder.port).validate(make_task(HTTP, "example.test"))

    assert outcome.valid, outcome.detail


async def test_body_cut_short_of_its_content_length_is_connection_error(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    responder = await servers.http()
    responder.routes[CHALLENGE_PATH] = Reply(
        raw=b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n" + KEY_AUTHORIZATION.encode()
    )

    outcome = await make_validator(http01_port=responder.port).validate(make_task(HTTP, "example.test"))

    assert outcome.error_type == "connection"
    assert outcome.detail == (
        f"error fetching http://example.test:{responder.port}{CHALLENGE_PATH} [127.0.0.1]: "
        "the connection closed before the response ended"
    )
