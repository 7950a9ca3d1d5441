"""Resolver: the VA's own DNS lookups (validation/dns_wire.py), so each address it connects to is one it
looked up."""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from enum import StrEnum

import dns.resolver

from acme_server.validation import dns_wire
from acme_server.validation.blocklist import IPAddress
from acme_server.validation.dns_wire import CAAData, Rcode, RecordType, WireError
from acme_server.validation.failures import ValidationFailure
from acme_server.validation.settings import ValidationSettings


class LookupProblem(StrEnum):
    NXDOMAIN = "NXDOMAIN"
    NO_RECORDS = "no records"
    TIMEOUT = "timeout"
    SERVFAIL = "SERVFAIL"
    OTHER = "error"


class DNSLookupError(ValidationFailure):
    """A lookup failed; always the RFC 8555 §6.7 `dns` type, the detail naming the name and record type."""

    def __init__(self, name: str, rdtype: str, problem: LookupProblem) -> None:
        super().__init__("dns", _describe(name, rdtype, problem))
        self.name = name
        self.rdtype = rdtype
        self.problem = problem

    @property
    def is_empty(self) -> bool:
        """The name has no records of that type (NXDOMAIN or NODATA), as opposed to a lookup that broke."""
        return self.problem in (LookupProblem.NXDOMAIN, LookupProblem.NO_RECORDS)


def _describe(name: str, rdtype: str, problem: LookupProblem) -> str:
    match problem:
        case LookupProblem.NXDOMAIN:
            return f"DNS problem: NXDOMAIN looking up {rdtype} for {name}"
        case LookupProblem.NO_RECORDS:
            return f"DNS problem: no {rdtype} records found for {name}"
        case LookupProblem.TIMEOUT:
            return f"DNS problem: query timed out looking up {rdtype} for {name}"
        case LookupProblem.SERVFAIL:
            return f"DNS problem: server failure (SERVFAIL) looking up {rdtype} for {name}"
        case _:
            return f"DNS problem: lookup of {rdtype} for {name} failed"


@dataclass(frozen=True)
class CAARecord:
    flags: int
    tag: str
    value: str

    @property
    def critical(self) -> bool:
        # RFC 8659 §4.1: the Issuer Critical Flag is bit 0, the most significant bit of the flags octet.
        return bool(self.flags & 0x80)


@dataclass(frozen=True)
class CAASet:
    """The Relevant RRset of RFC 8659 §3 and the name it was found at (`owner` is None when empty)."""

    owner: str | None
    records: tuple[CAARecord, ...]


_ADDRESS_TYPES = (ipaddress.IPv4Address, ipaddress.IPv6Address)


class Resolver:
    """A, AAAA, TXT and CAA lookups without caching (each validation sees the zone as it is now), sent
    by dns_wire to the configured server or, without one, to the system's (read by dnspython)."""

    def __init__(self, settings: ValidationSettings) -> None:
        if settings.dns_resolver is None:
            self._servers = dns_wire.nameserver_addresses(dns.resolver.Resolver(configure=True).nameservers)
        else:
            self._servers = [settings.dns_resolver]
        self._timeout = settings.timeout

    async def _query(self, name: str, rdtype: RecordType) -> list[dns_wire.Value]:
        """The values of one type at `name` (CNAMEs in the answer followed): each server in turn until
        one answers NOERROR or NXDOMAIN, all within the validation timeout."""
        try:
            wire = dns_wire.wire_name(name)
        except WireError:
            raise DNSLookupError(name, rdtype.name, LookupProblem.OTHER) from None
        problem = LookupProblem.SERVFAIL
        try:
            async with asyncio.timeout(self._timeout):
                for server in self._servers:
                    try:
                        response = await dns_wire.exchange(server, wire, rdtype)
                    except (WireError, OSError):
                        problem = LookupProblem.OTHER
                        continue
                    if response.rcode == Rcode.NXDOMAIN:
                        raise DNSLookupError(name, rdtype.name, LookupProblem.NXDOMAIN)
                    if response.rcode != Rcode.NOERROR:
                        problem = LookupProblem.SERVFAIL
                        continue
                    try:
                        values = response.resolve(wire, rdtype)
                    except WireError:
                        raise DNSLookupError(name, rdtype.name, LookupProblem.OTHER) from None
                    if not values:
                        raise DNSLookupError(name, rdtype.name, LookupProblem.NO_RECORDS)
                    return values
        except TimeoutError:
            raise DNSLookupError(name, rdtype.name, LookupProblem.TIMEOUT) from None
        raise DNSLookupError(name, rdtype.name, problem)

    async def lookup_addresses(self, name: str) -> list[IPAddress]:
        """A then AAAA addresses (IPv4 first, as Boulder orders them); fails only when both lookups do."""
        answers = await asyncio.gather(
            self._query(name, RecordType.A),
            self._query(name, RecordType.AAAA),
            return_exceptions=True,
        )
        addresses: list[IPAddress] = []
        errors: list[DNSLookupError] = []
        for answer in answers:
            if isinstance(answer, DNSLookupError):
                errors.append(answer)
            elif isinstance(answer, BaseException):
                raise answer
            else:
                addresses.extend(
                    v for v in answer if isinstance(v, ipaddress.IPv4Address | ipaddress.IPv6Address)
                )
        if addresses:
            return addresses
        if all(error.is_empty for error in errors):
            problem = (
                errors[0].problem if errors[0].problem == errors[1].problem else LookupProblem.NO_RECORDS
            )
            raise DNSLookupError(name, "A or AAAA", problem)
        raise next(error for error in errors if not error.is_empty)

    async def lookup_txt(self, name: str) -> list[str]:
        """Each TXT record's character-strings joined; CNAMEs in the answer are followed, as dns-01
        requires (RFC 8555 §8.4 validates the name the client delegates)."""
        answer = await self._query(name, RecordType.TXT)
        return [b"".join(v).decode("utf-8", "replace") for v in answer if isinstance(v, tuple)]

    async def lookup_caa(self, name: str) -> CAASet:
        """RFC 8659 §3: the CAA RRset at `name`, else at its parent, …, up to and including the TLD
        (never the root). NXDOMAIN and NODATA mean "empty here, climb"; other failures raise."""
        try:
            labels = dns_wire.wire_name(name).decode("ascii").split(".")
        except WireError:
            raise DNSLookupError(name, "CAA", LookupProblem.OTHER) from None
        for index in range(len(labels)):
            node = ".".join(labels[index:])
            try:
                answer = await self._query(node, RecordType.CAA)
            except DNSLookupError as error:
                if not error.is_empty:
                    raise
            else:
                records = tuple(
                    CAARecord(flags=v.flags, tag=v.tag, value=v.value)
                    for v in answer
                    if isinstance(v, CAAData)
                )
                if records:
                    return CAASet(owner=node, records=records)
        return CAASet(owner=None, records=())
