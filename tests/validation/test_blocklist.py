"""Issue 10 defect 8: the VA must not reach internal networks nor echo what answered (RFC 8555 §10.2).

Loopback is tested against a real listener on 127.0.0.1 and ::1 that must see no connection; the other
classes are served by the scripted DNS server and must be refused before any connection is made."""

from __future__ import annotations

import socket
from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest

from acme_server.services.ports import ChallengeType
from acme_server.validation import NetworkValidator, ValidationSettings
from acme_server.validation.blocklist import blocking_network, embedded_ipv4, listening_addresses
from tests.validation.conftest import ServerPool
from tests.validation.responders import CHALLENGE_PATH, TOKEN, Reply, ScriptedDNS, make_task

MakeValidator = Callable[..., NetworkValidator]
HTTP = ChallengeType.HTTP_01
CONNECTING = [ChallengeType.HTTP_01, ChallengeType.TLS_ALPN_01]

# One address per class the production default blocks, and the network it is refused for.
BLOCKED_BY_DEFAULT = {
    "169.254.169.254": "169.254.0.0/16",  # the cloud metadata address
    "169.254.1.1": "169.254.0.0/16",
    "fe80::1": "fe80::/10",
    "0.0.0.0": "0.0.0.0/8",
    "0.1.2.3": "0.0.0.0/8",
    "::": "::/128",
    "224.0.0.1": "224.0.0.0/4",
    "239.255.255.250": "224.0.0.0/4",
    "ff02::1": "ff00::/8",
    "255.255.255.255": "240.0.0.0/4",
    "240.0.0.1": "240.0.0.0/4",
    "127.0.0.1": "127.0.0.0/8",
    "127.8.9.10": "127.0.0.0/8",
    "::1": "::1/128",
    # IPv6 forms that deliver to a blocked IPv4 address:
    "64:ff9b::a9fe:a9fe": "169.254.0.0/16",  # NAT64 well-known prefix, metadata
    "64:ff9b::7f00:1": "127.0.0.0/8",
    "64:ff9b:1::a9fe:a9fe": "169.254.0.0/16",  # RFC 8215 local-use prefix as a /96
    "64:ff9b:1:a9fe:a9:fe00::": "169.254.0.0/16",  # ... as a /48 (RFC 6052 §2.2 layout)
    "64:ff9b:1:7f:0:1::": "127.0.0.0/8",  # ... as a /56
    "64:ff9b:1:0:7f:0:100:0": "127.0.0.0/8",  # ... as a /64
    "::ffff:127.0.0.1": "127.0.0.0/8",  # IPv4-mapped
    "::ffff:169.254.169.254": "169.254.0.0/16",
    "::127.0.0.1": "127.0.0.0/8",  # IPv4-compatible
    "::169.254.169.254": "169.254.0.0/16",
    "2002:7f00:1::1": "127.0.0.0/8",  # 6to4
    "2002:a9fe:a9fe::1": "169.254.0.0/16",
    "2001:0:4136:e378:8000:63bf:80ff:fffe": "127.0.0.0/8",  # Teredo, client 127.0.0.1 (obfuscated)
}
PRIVATE = [
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "100.64.0.1",
    "fd00::1",
    "fd00:ec2::254",
]
PRIVATE_EMBEDDED = ["64:ff9b::a00:1", "::ffff:192.168.1.1", "2002:c0a8:101::1"]
PUBLIC = [
    "192.0.2.1",
    "198.51.100.7",
    "2001:db8::1",
    "64:ff9b::c000:201",
    "64:ff9b:1::c000:201",  # local-use NAT64 as a /96
    "64:ff9b:1:c000:2:100::",  # ... as a /48
    "2002:c000:201::1",
    "8.8.8.8",
]


def serve_address(dns_server: ScriptedDNS, name: str, address: str) -> None:
    dns_server.add(name, "AAAA" if ":" in address else "A", address)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "0.0.0.0", "::ffff:127.0.0.1", "127.0.0.2"])
@pytest.mark.parametrize("challenge", CONNECTING)
async def test_issue10_defect8_default_never_connects_to_loopback(
    dns_server: ScriptedDNS,
    servers: ServerPool,
    make_validator: MakeValidator,
    challenge: ChallengeType,
    address: str,
) -> None:
    trap = await servers.trap()
    serve_address(dns_server, "internal.test", address)
    validator = make_validator(allow_loopback=False, http01_port=trap.port, tlsalpn01_port=trap.port)

    by_name = await validator.validate(make_task(challenge, "internal.test"))
    by_ip = await validator.validate(make_task(challenge, address, ip=True))

    for outcome in (by_name, by_ip):
        assert outcome.error_type == "connection"
        assert outcome.detail is not None
        assert "every address is in a blocked network" in outcome.detail
        assert all("address_used" not in record for record in outcome.records)
    assert trap.connections == 0


@pytest.mark.parametrize(("address", "network"), list(BLOCKED_BY_DEFAULT.items()))
@pytest.mark.parametrize("challenge", CONNECTING)
async def test_issue10_defect8_default_refuses_each_blocked_class_before_connecting(
    dns_server: ScriptedDNS,
    make_validator: MakeValidator,
    challenge: ChallengeType,
    address: str,
    network: str,
) -> None:
    serve_address(dns_server, "internal.test", address)
    validator = make_validator(allow_loopback=False)

    outcome = await validator.validate(make_task(challenge, "internal.test"))

    assert outcome.error_type == "connection"
    shown = ip_address(address)
    assert outcome.detail == (
        f"refusing to connect to internal.test: every address is in a blocked network: {shown} (in {network})"
    )
    assert [record.get("address_used") for record in outcome.records] == [None]


@pytest.mark.parametrize("address", PRIVATE + PRIVATE_EMBEDDED)
async def test_issue10_defect8_block_private_refuses_private_ranges_before_connecting(
    dns_server: ScriptedDNS, make_validator: MakeValidator, address: str
) -> None:
    serve_address(dns_server, "internal.test", address)

    outcome = await make_validator(allow_loopback=False, block_private=True).validate(
        make_task(HTTP, "internal.test")
    )

    assert outcome.error_type == "connection"
    assert outcome.detail is not None
    assert outcome.detail.startswith(
        "refusing to connect to internal.test: every address is in a blocked network"
    )
    assert [record.get("address_used") for record in outcome.records] == [None]


async def test_issue10_defect8_own_addresses_are_refused_before_connecting(
    dns_server: ScriptedDNS, make_validator: MakeValidator
) -> None:
    serve_address(dns_server, "ca.test", "192.0.2.10")

    outcome = await make_validator(own_addresses=(IPv4Address("192.0.2.10"),)).validate(
        make_task(HTTP, "ca.test")
    )

    assert outcome.detail == (
        "refusing to connect to ca.test: every address is in a blocked network: 192.0.2.10 (in 192.0.2.10/32)"
    )


@pytest.mark.parametrize("address", PRIVATE + PRIVATE_EMBEDDED + PUBLIC)
def test_issue10_defect8_private_and_public_addresses_are_allowed_by_default(address: str) -> None:
    # A private CA validates hosts inside the private network: only --block-private refuses them.
    assert blocking_network(ip_address(address), ValidationSettings().blocked) is None


def test_issue10_defect8_loopback_is_allowed_only_by_opting_in() -> None:
    allowed = ValidationSettings(allow_loopback=True).blocked
    assert blocking_network(ip_address("127.0.0.1"), allowed) is None
    assert blocking_network(ip_address("::1"), allowed) is None
    assert blocking_network(ip_address("::ffff:127.0.0.1"), allowed) is None
    # Opting into loopback does not open the rest of the list, nor 0.0.0.0 (which reaches the host).
    assert blocking_network(ip_address("0.0.0.0"), allowed) is not None
    assert blocking_network(ip_address("169.254.169.254"), allowed) is not None


def test_embedded_ipv4_reads_every_rfc6052_layout() -> None:
    metadata = IPv4Address("169.254.169.254")
    assert metadata in embedded_ipv4(IPv6Address("64:ff9b::169.254.169.254"))
    assert metadata in embedded_ipv4(IPv6Address("64:ff9b:1:a9fe:a9:fe00::"))
    assert embedded_ipv4(IPv4Address("127.0.0.1")) == []
    assert embedded_ipv4(IPv6Address("::1")) == []  # loopback itself, not IPv4-compatible 0.0.0.1


def test_listening_addresses_resolve_the_listen_hosts_at_start() -> None:
    assert listening_addresses(["127.0.0.1", "::1"]) == (IPv4Address("127.0.0.1"), IPv6Address("::1"))
    assert IPv4Address("127.0.0.1") in listening_addresses(["localhost"])


def host_address() -> str:
    """This machine's address on its outbound interface (a UDP connect sends nothing); skips the test
    when there is none the default block list allows (a loopback-only sandbox)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            pytest.skip("no non-loopback IPv4 address on this machine")
        address = str(probe.getsockname()[0])
    if blocking_network(ip_address(address), ValidationSettings().blocked) is not None:
        pytest.skip(f"this machine's address {address} is itself in the default block list")
    return address


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/admin?token=s3cret",
        "http://[::1]:{port}/admin?token=s3cret",
        "http://0.0.0.0:{port}/admin?token=s3cret",
        "http://[::ffff:127.0.0.1]:{port}/admin?token=s3cret",
        "http://loopback.test:{port}/admin?token=s3cret",
    ],
)
async def test_issue10_defect8_rfc8555_s8_3_redirect_to_loopback_is_refused_before_connecting(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator, target: str
) -> None:
    address = host_address()
    trap = await servers.trap()
    responder = await servers.http(address)
    location = target.format(port=trap.port)
    responder.routes[CHALLENGE_PATH] = Reply(302, headers={"Location": location})
    dns_server.add("example.test", "A", address)
    dns_server.add("loopback.test", "A", "127.0.0.1")
    # The trap's port is a challenge port, so the redirect passes the port rule and meets the block list.
    validator = make_validator(allow_loopback=False, http01_port=responder.port, tlsalpn01_port=trap.port)

    outcome = await validator.validate(make_task(HTTP, "example.test"))

    assert len(responder.requests) == 1  # the first hop was allowed and fetched
    assert outcome.error_type == "connection"
    assert outcome.detail is not None
    assert "every address is in a blocked network" in outcome.detail
    assert "s3cret" not in outcome.detail  # the Location's path and query are not echoed
    assert trap.connections == 0


async def test_issue10_defect8_body_is_never_echoed_only_its_length(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    responder = await servers.http()
    body = b"INTERNAL-ADMIN-PAGE root_password=hunter2"
    responder.routes[CHALLENGE_PATH] = Reply(body=body)

    outcome = await make_validator(http01_port=responder.port).validate(make_task(HTTP, "example.test"))

    assert outcome.error_type == "incorrectResponse"
    assert outcome.detail == (
        f"the key authorization did not match: got {len(body)} bytes from "
        f"http://example.test:{responder.port}/.well-known/acme-challenge/{TOKEN}"
    )


async def test_issue10_defect8_refused_redirect_names_only_the_origin(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    responder = await servers.http()
    responder.routes[CHALLENGE_PATH] = Reply(
        302, headers={"Location": "ftp://files.test/root_password=hunter2"}
    )

    outcome = await make_validator(http01_port=responder.port).validate(make_task(HTTP, "example.test"))

    assert outcome.error_type == "connection"
    assert outcome.detail == (
        f"refusing the redirect from http://example.test:{responder.port}{CHALLENGE_PATH} to "
        'ftp://files.test: only "http" and "https" are followed'
    )


async def test_issue10_defect8_broken_http_reply_is_not_quoted(
    dns_server: ScriptedDNS, servers: ServerPool, make_validator: MakeValidator
) -> None:
    dns_server.add("example.test", "A", "127.0.0.1")
    responder = await servers.http()
    responder.routes[CHALLENGE_PATH] = Reply(raw=b"root_password=hunter2 garbage\r\n\r\n")

    outcome = await make_validator(http01_port=responder.port).validate(make_task(HTTP, "example.test"))

    assert outcome.error_type == "connection"
    assert outcome.detail == (
        f"error fetching http://example.test:{responder.port}{CHALLENGE_PATH} [127.0.0.1]: "
        "the reply is not a well-formed HTTP/1.1 response"
    )
