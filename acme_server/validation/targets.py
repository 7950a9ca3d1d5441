"""Which host a challenge names and which of its addresses the VA may connect to (blocked networks)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from acme_server.services.ports import IdentifierType, ValidationTask
from acme_server.validation.blocklist import IPAddress, Network, blocking_network
from acme_server.validation.failures import ValidationFailure
from acme_server.validation.resolver import Resolver

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# RFC 8555 §8.1: a token is base64url; anything else must never reach a URL path.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Identifier:
    """A task's identifier, checked: `name` is a lower-case DNS name, or `address` is set for IPs."""

    name: str
    address: IPAddress | None = None

    @property
    def url_host(self) -> str:
        """The host as written in a URL authority or Host header (IPv6 in brackets, RFC 3986 §3.2.2)."""
        if isinstance(self.address, ipaddress.IPv6Address):
            return f"[{self.address}]"
        return self.name


def parse_identifier(task: ValidationTask) -> Identifier:
    """The identifier of `task`, or a `malformed` failure: services normalise identifiers, but the VA
    puts them into URLs, SNI and DNS queries and so checks them again."""
    value = task.identifier_value
    if task.identifier_type == IdentifierType.IP:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise ValidationFailure("malformed", f"{value!r} is not an IP address") from None
        return Identifier(name=str(address), address=address)
    name = value.lower().removesuffix(".")
    if not is_hostname(name):
        raise ValidationFailure("malformed", f"{value!r} is not a valid DNS name to validate")
    return Identifier(name=name)


def is_hostname(name: str) -> bool:
    """A lower-case LDH host name (RFC 1123 §2.1), as identifiers and redirect targets must be."""
    return len(name) <= 253 and all(_LABEL.match(label) for label in name.split("."))


def check_token(token: str) -> None:
    if not _TOKEN.match(token):
        raise ValidationFailure("malformed", "the challenge token is not base64url")


async def resolve_host(host: str, resolver: Resolver) -> list[IPAddress]:
    """An IP literal is its own address; a name is looked up with the VA's resolver."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        return await resolver.lookup_addresses(host)


def usable_addresses(host: str, addresses: list[IPAddress], blocked: tuple[Network, ...]) -> list[IPAddress]:
    """The addresses to try in order: the first allowed IPv4 then the first allowed IPv6 (one
    fallback across families, as Boulder does). Blocked addresses are never tried; if nothing is
    left the VA refuses with `connection` before opening any socket."""
    allowed = [address for address in addresses if blocking_network(address, blocked) is None]
    if not allowed:
        shown = ", ".join(f"{a} (in {blocking_network(a, blocked)})" for a in addresses)
        raise ValidationFailure(
            "connection", f"refusing to connect to {host}: every address is in a blocked network: {shown}"
        )
    first_v4 = [a for a in allowed if a.version == 4][:1]
    first_v6 = [a for a in allowed if a.version == 6][:1]
    return first_v4 + first_v6


async def plan_connection(
    host: str,
    resolver: Resolver,
    blocked: tuple[Network, ...],
    record: dict[str, Any],
    records: list[dict[str, Any]],
) -> list[IPAddress]:
    """Resolve `host` into `record["addresses_resolved"]` and return the addresses to try; when that
    fails, `record` (what was learnt so far) is kept in `records` before the failure propagates."""
    record["addresses_resolved"] = []
    try:
        addresses = await resolve_host(host, resolver)
        record["addresses_resolved"] = [str(address) for address in addresses]
        return usable_addresses(host, addresses, blocked)
    except ValidationFailure:
        records.append(record)
        raise
