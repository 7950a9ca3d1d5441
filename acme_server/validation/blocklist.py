"""The VA's block list: the networks it never connects to, and the IPv6 forms that embed an IPv4 address.

RFC 8555 §10.2 warns that validation lets an ACME client make the CA send requests to addresses of
its choosing; this is the list the VA checks every address against before it opens a socket."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

IPAddress = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

# Always blocked (IANA special-purpose registries, RFC 6890): nothing a certificate could be for lives
# here, and some of it is the host itself (0.0.0.0 connects to the local machine on Linux) or the cloud
# metadata service (169.254.169.254). The IPv4 entries also block their IPv6 embeddings (see below).
ALWAYS_BLOCKED: tuple[Network, ...] = (
    IPv4Network("0.0.0.0/8"),  # "this network" (RFC 791); 0.0.0.0 reaches the local host
    IPv4Network("169.254.0.0/16"),  # link-local (RFC 3927), incl. the metadata address
    IPv4Network("224.0.0.0/4"),  # multicast (RFC 5771)
    IPv4Network("240.0.0.0/4"),  # reserved (RFC 1112 §4)
    IPv4Network("255.255.255.255/32"),  # limited broadcast (RFC 919), also inside 240/4
    IPv6Network("::/128"),  # unspecified (RFC 4291 §2.5.2)
    IPv6Network("fe80::/10"),  # link-local (RFC 4291 §2.5.6)
    IPv6Network("ff00::/8"),  # multicast (RFC 4291 §2.7)
)
# Blocked unless the deployment opts in (--validation-allow-loopback): test responders live here.
LOOPBACK: tuple[Network, ...] = (IPv4Network("127.0.0.0/8"), IPv6Network("::1/128"))
# Allowed by default (a private CA validates names inside the private network); --block-private.
PRIVATE: tuple[Network, ...] = (
    IPv4Network("10.0.0.0/8"),  # RFC 1918
    IPv4Network("172.16.0.0/12"),  # RFC 1918
    IPv4Network("192.168.0.0/16"),  # RFC 1918
    IPv4Network("100.64.0.0/10"),  # shared address space, carrier-grade NAT (RFC 6598)
    IPv6Network("fc00::/7"),  # unique local (RFC 4193), incl. fd00:ec2::254 (AWS metadata over IPv6)
)

_MAPPED = IPv6Network("::ffff:0:0/96")  # RFC 4291 §2.5.5.2
_COMPATIBLE = IPv6Network("::/96")  # RFC 4291 §2.5.5.1 (deprecated, still routed by some stacks)
_NAT64 = IPv6Network("64:ff9b::/96")  # RFC 6052 §2.1 well-known prefix
_NAT64_LOCAL = IPv6Network("64:ff9b:1::/48")  # RFC 8215 local-use: the prefix length is the operator's
_THIS_NETWORK = IPv4Network("0.0.0.0/8")


def embedded_ipv4(address: IPAddress) -> list[IPv4Address]:
    """The IPv4 addresses an IPv6 address may deliver to: IPv4-mapped and -compatible, NAT64 (RFC 6052,
    every prefix length a 64:ff9b:1::/48 deployment may use), 6to4 (RFC 3056) and Teredo (RFC 4380)."""
    if not isinstance(address, IPv6Address):
        return []
    found: list[IPv4Address] = []
    compatible = address in _COMPATIBLE and int(address) > 1  # :: and ::1 are themselves, not IPv4
    if address in _MAPPED or compatible or address in _NAT64:
        found.append(IPv4Address(int(address) & 0xFFFFFFFF))
    if address in _NAT64_LOCAL:
        found += _local_nat64(address.packed)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found += list(address.teredo)
    return found


def _local_nat64(packed: bytes) -> list[IPv4Address]:
    """RFC 8215 leaves the prefix length (48, 56, 64 or 96, RFC 6052 §2.2) to the operator, so every
    layout is read: bits 64..71 (the "u" octet) are skipped, the IPv4 address follows the prefix, the
    suffix after it is zero. A reading inside 0.0.0.0/8 is that zero padding, not a destination."""
    suffix = packed[:8] + packed[9:]
    readings = [IPv4Address(packed[12:])]  # a /96 prefix: the last 32 bits
    for length in (48, 56, 64):
        start = length // 8
        if packed[8] == 0 and not any(suffix[start + 4 :]):
            readings.append(IPv4Address(suffix[start : start + 4]))
    return [reading for reading in readings if reading not in _THIS_NETWORK]


def blocking_network(address: IPAddress, blocked: Iterable[Network]) -> Network | None:
    """The blocked network holding `address` or an IPv4 address it embeds, else None."""
    candidates: list[IPAddress] = [address, *embedded_ipv4(address)]
    for network in blocked:
        if any(candidate in network for candidate in candidates):
            return network
    return None


def block_list(
    *,
    allow_loopback: bool,
    block_private: bool,
    own_addresses: Iterable[IPAddress],
    extra: Iterable[Network],
) -> tuple[Network, ...]:
    """The networks the VA refuses: ALWAYS_BLOCKED, LOOPBACK unless allowed, PRIVATE when asked, the
    server's own addresses (a loopback one is exempt when loopback is allowed: the test setups run the
    server and the responders on 127.0.0.1), then the deployment's own additions."""
    own: list[Network] = [
        ipaddress.ip_network(address)
        for address in own_addresses
        if not (allow_loopback and address.is_loopback)
    ]
    return (
        *ALWAYS_BLOCKED,
        *(() if allow_loopback else LOOPBACK),
        *(PRIVATE if block_private else ()),
        *own,
        *extra,
    )


def listening_addresses(hosts: Iterable[str]) -> tuple[IPAddress, ...]:
    """The addresses the server answers on, resolved once at start: each listen host's addresses; for a
    wildcard host (0.0.0.0, ::) the addresses the machine's host name resolves to (best effort: the
    standard library cannot list interfaces; the wildcard itself is in ALWAYS_BLOCKED)."""
    found: dict[IPAddress, None] = {}
    for host in hosts:
        wildcard = host in ("0.0.0.0", "::", "")
        for address in _resolve(socket.gethostname() if wildcard else host):
            found[address] = None
    return tuple(found)


def _resolve(host: str) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []  # a host name that does not resolve adds nothing to block
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
