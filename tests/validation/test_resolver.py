"""The VA's resolver against the scripted DNS server: ordering, CNAMEs, failures and CAA tree climbing."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import ip_address
from pathlib import Path

import pytest

from acme_server.validation import ValidationSettings, dns_wire
from acme_server.validation.resolver import CAARecord, CAASet, DNSLookupError, LookupProblem, Resolver
from tests.validation.responders import ScriptedDNS


@pytest.fixture
def resolver(dns_server: ScriptedDNS) -> Resolver:
    return Resolver(ValidationSettings(dns_resolver=("127.0.0.1", dns_server.port), timeout=0.3))


async def test_addresses_come_ipv4_first(dns_server: ScriptedDNS, resolver: Resolver) -> None:
    dns_server.add("dual.test", "AAAA", "::1")
    dns_server.add("dual.test", "A", "127.0.0.1")

    assert await resolver.lookup_addresses("dual.test") == [ip_address("127.0.0.1"), ip_address("::1")]


async def test_ipv6_only_name_resolves(dns_server: ScriptedDNS, resolver: Resolver) -> None:
    dns_server.add("v6.test", "AAAA", "::1")

    assert await resolver.lookup_addresses("v6.test") == [ip_address("::1")]


async def test_addresses_follow_a_cname(dns_server: ScriptedDNS, resolver: Resolver) -> None:
    dns_server.add_cname("www.example.test", "host.example.test")
    dns_server.add("host.example.test", "A", "127.0.0.1")

    assert await resolver.lookup_addresses("www.example.test") == [ip_address("127.0.0.1")]


@pytest.mark.parametrize(
    ("script", "problem", "detail"),
    [
        (lambda dns: None, LookupProblem.NXDOMAIN, "DNS problem: NXDOMAIN looking up A or AAAA for x.test"),
        (
            lambda dns: dns.add("x.test", "TXT", '"only text"'),
            LookupProblem.NO_RECORDS,
            "DNS problem: no A or AAAA records found for x.test",
        ),
        (
            lambda dns: dns.fail("x.test"),
            LookupProblem.SERVFAIL,
            "DNS problem: server failure (SERVFAIL) looking up A for x.test",
        ),
        (
            lambda dns: dns.drop("x.test"),
            LookupProblem.TIMEOUT,
            "DNS problem: query timed out looking up A for x.test",
        ),
    ],
    ids=["nxdomain", "nodata", "servfail", "timeout"],
)
async def test_address_lookup_failures_are_typed_dns_errors(
    dns_server: ScriptedDNS,
    resolver: Resolver,
    script: Callable[[ScriptedDNS], object],
    problem: LookupProblem,
    detail: str,
) -> None:
    script(dns_server)

    with pytest.raises(DNSLookupError) as raised:
        await resolver.lookup_addresses("x.test")

    assert raised.value.error_type == "dns"
    assert raised.value.problem == problem
    assert raised.value.detail == detail


async def test_txt_follows_cname_and_joins_strings(dns_server: ScriptedDNS, resolver: Resolver) -> None:
    dns_server.add_cname("_acme-challenge.example.test", "delegated.test")
    dns_server.add("delegated.test", "TXT", '"abc" "def"')

    assert await resolver.lookup_txt("_acme-challenge.example.test") == ["abcdef"]


async def test_caa_climbs_to_the_closest_record_set(dns_server: ScriptedDNS, resolver: Resolver) -> None:
    dns_server.add("example.test", "CAA", '0 issue "ca.test"', '128 iodef "mailto:x@example.test"')

    relevant = await resolver.lookup_caa("a.b.example.test")

    assert relevant.owner == "example.test"
    assert set(relevant.records) == {
        CAARecord(0, "issue", "ca.test"),
        CAARecord(128, "iodef", "mailto:x@example.test"),
    }
    assert [record.critical for record in relevant.records if record.tag == "iodef"] == [True]


async def test_caa_without_records_anywhere_is_empty(dns_server: ScriptedDNS, resolver: Resolver) -> None:
    assert await resolver.lookup_caa("www.example.test") == CAASet(owner=None, records=())
    assert [name for name, _ in dns_server.queries] == ["www.example.test", "example.test", "test"]


async def test_caa_failure_other_than_empty_stops_the_climb(
    dns_server: ScriptedDNS, resolver: Resolver
) -> None:
    dns_server.fail("example.test")

    with pytest.raises(DNSLookupError) as raised:
        await resolver.lookup_caa("www.example.test")

    assert raised.value.problem == LookupProblem.SERVFAIL
    assert [name for name, _ in dns_server.queries] == ["www.example.test", "example.test"]


def test_system_resolver_is_used_when_none_is_configured() -> None:
    # the host's /etc/resolv.conf, read here without dnspython: every nameserver line, on port 53
    listed = [
        line.split()[1]
        for line in Path("/etc/resolv.conf").read_text().splitlines()
        if line.startswith("nameserver") and len(line.split()) > 1
    ]
    resolver = Resolver(ValidationSettings(timeout=3.0))  # no query is sent
    assert resolver._servers == [(host, 53) for host in listed]
    assert resolver._timeout == 3.0


def test_nameservers_keep_their_ports() -> None:
    import dns.nameserver

    configured = [dns.nameserver.Do53Nameserver("192.0.2.1", 5353), "192.0.2.2"]
    assert dns_wire.nameserver_addresses(configured) == [("192.0.2.1", 5353), ("192.0.2.2", 53)]
