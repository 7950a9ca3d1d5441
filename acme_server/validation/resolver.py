"""Resolver: the VA's own DNS lookups (dnspython), so each address it connects to is one it looked up."""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from enum import StrEnum

import dns.asyncresolver
import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver
from dns.rdtypes.ANY.CAA import CAA
from dns.rdtypes.ANY.TXT import TXT

from acme_server.validation.blocklist import IPAddress
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


def _problem(error: dns.exception.DNSException) -> LookupProblem:
    if isinstance(error, dns.resolver.NXDOMAIN):
        return LookupProblem.NXDOMAIN
    if isinstance(error, dns.resolver.NoAnswer):
        return LookupProblem.NO_RECORDS
    if isinstance(error, dns.exception.Timeout):
        return LookupProblem.TIMEOUT
    if isinstance(error, dns.resolver.NoNameservers):
        return LookupProblem.SERVFAIL
    return LookupProblem.OTHER


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


class Resolver:
    """A, AAAA, TXT and CAA lookups without caching (each validation sees the zone as it is now)."""

    def __init__(self, settings: ValidationSettings) -> None:
        if settings.dns_resolver is None:
            self._resolver = dns.asyncresolver.Resolver(configure=True)
        else:
            host, port = settings.dns_resolver
            self._resolver = dns.asyncresolver.Resolver(configure=False)
            self._resolver.nameservers = [dns.nameserver.Do53Nameserver(host, port)]
        self._resolver.timeout = settings.timeout
        self._resolver.lifetime = settings.timeout
        self._resolver.cache = None

    async def _query(self, name: str, rdtype: dns.rdatatype.RdataType) -> dns.resolver.Answer:
        try:
            # An absolute name: search domains of the host must never change what is validated.
            qname = dns.name.from_text(name)
            return await self._resolver.resolve(qname, rdtype, search=False)
        except dns.exception.DNSException as error:
            raise DNSLookupError(name, rdtype.name, _problem(error)) from error

    async def lookup_addresses(self, name: str) -> list[IPAddress]:
        """A then AAAA addresses (IPv4 first, as Boulder orders them); fails only when both lookups do."""
        answers = await asyncio.gather(
            self._query(name, dns.rdatatype.A),
            self._query(name, dns.rdatatype.AAAA),
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
                addresses.extend(ipaddress.ip_address(rdata.to_text()) for rdata in answer)
        if addresses:
            return addresses
        if all(error.is_empty for error in errors):
            problem = (
                errors[0].problem if errors[0].problem == errors[1].problem else LookupProblem.NO_RECORDS
            )
            raise DNSLookupError(name, "A or AAAA", problem)
        raise next(error for error in errors if not error.is_empty)

    async def lookup_txt(self, name: str) -> list[str]:
        """Each TXT record's character-strings joined; CNAMEs in the answer are followed (dnspython
        chains them), as dns-01 requires (RFC 8555 §8.4 validates the name the client delegates)."""
        answer = await self._query(name, dns.rdatatype.TXT)
        return [
            b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer if isinstance(rdata, TXT)
        ]

    async def lookup_caa(self, name: str) -> CAASet:
        """RFC 8659 §3: the CAA RRset at `name`, else at its parent, …, up to and including the TLD
        (never the root). NXDOMAIN and NODATA mean "empty here, climb"; other failures raise."""
        try:
            node = dns.name.from_text(name)
        except dns.exception.DNSException as error:
            raise DNSLookupError(name, "CAA", LookupProblem.OTHER) from error
        while len(node) > 1:  # the root label counts as one
            try:
                answer = await self._query(node.to_text(omit_final_dot=True), dns.rdatatype.CAA)
            except DNSLookupError as error:
                if not error.is_empty:
                    raise
            else:
                records = tuple(_caa_record(rdata) for rdata in answer if isinstance(rdata, CAA))
                if records:
                    return CAASet(owner=node.to_text(omit_final_dot=True), records=records)
            node = node.parent()
        return CAASet(owner=None, records=())


def _caa_record(rdata: CAA) -> CAARecord:
    return CAARecord(
        flags=rdata.flags,
        tag=rdata.tag.decode("ascii", "replace"),
        value=rdata.value.decode("utf-8", "replace"),
    )
