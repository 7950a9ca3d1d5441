"""ValidationSettings: the VA's configuration value, checked once when it is built (ARCHITECTURE rule 7)."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from functools import cached_property
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from acme_server.validation.blocklist import Network, block_list


def _check_port(field: str, port: object) -> None:
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise ValueError(f"{field} must be a TCP/UDP port between 1 and 65535, not {port!r}")


def _check_resolver(resolver: object) -> None:
    if resolver is None:
        return
    if not isinstance(resolver, tuple) or len(resolver) != 2:
        raise ValueError(f"dns_resolver must be a (host, port) pair or None, not {resolver!r}")
    host, port = resolver
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"dns_resolver host must be an IP address, not {host!r}") from None
    _check_port("dns_resolver port", port)


def _check_networks(networks: object) -> None:
    if not isinstance(networks, tuple):
        raise ValueError("blocked_networks must be a tuple of IPv4Network/IPv6Network values")
    for network in networks:
        if not isinstance(network, IPv4Network | IPv6Network):
            raise ValueError(f"blocked_networks entries must be IPv4Network/IPv6Network, not {network!r}")


def _check_addresses(addresses: object) -> None:
    if not isinstance(addresses, tuple) or not all(
        isinstance(a, IPv4Address | IPv6Address) for a in addresses
    ):
        raise ValueError("own_addresses must be a tuple of IPv4Address/IPv6Address values")


def _check_identities(identities: object) -> None:
    if not isinstance(identities, tuple):
        raise ValueError("caa_identities must be a tuple of issuer domain names")
    for identity in identities:
        # RFC 8659 §4.2: issuer-domain-name is a dot-separated list of LDH labels.
        if not isinstance(identity, str) or not identity or any(c.isspace() or c == ";" for c in identity):
            raise ValueError(f"caa_identities entries must be issuer domain names, not {identity!r}")


@dataclass(frozen=True)
class ValidationSettings:
    """How the VA reaches the outside world. `timeout` bounds each network step (one DNS query, one
    HTTP exchange including its redirects' own hops, one TLS handshake). What it never connects to is
    `blocked`: the fixed list of blocklist.py, loopback unless `allow_loopback`, the private ranges
    when `block_private`, `own_addresses` (the server's, resolved at start) and `blocked_networks`
    (the deployment's additions; they never shrink the fixed list)."""

    http01_port: int = 80
    tlsalpn01_port: int = 443
    dns_resolver: tuple[str, int] | None = None  # None: the system's resolver (/etc/resolv.conf)
    timeout: float = 10.0
    max_redirects: int = 10
    max_body_bytes: int = 64 * 1024
    blocked_networks: tuple[IPv4Network | IPv6Network, ...] = ()
    allow_loopback: bool = False  # 127.0.0.0/8 and ::1: only test setups validate on loopback
    block_private: bool = False  # 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7
    own_addresses: tuple[IPv4Address | IPv6Address, ...] = ()
    caa_identities: tuple[str, ...] = ()  # empty: CAA is not checked
    user_agent: str = "acme-server-va"

    def __post_init__(self) -> None:
        _check_port("http01_port", self.http01_port)
        _check_port("tlsalpn01_port", self.tlsalpn01_port)
        _check_resolver(self.dns_resolver)
        if not isinstance(self.timeout, int | float) or not math.isfinite(self.timeout) or self.timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {self.timeout!r}")
        if not isinstance(self.max_redirects, int) or self.max_redirects < 0:
            raise ValueError(f"max_redirects must be a non-negative integer, not {self.max_redirects!r}")
        if not isinstance(self.max_body_bytes, int) or self.max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be a positive integer, not {self.max_body_bytes!r}")
        _check_networks(self.blocked_networks)
        _check_addresses(self.own_addresses)
        if not isinstance(self.allow_loopback, bool) or not isinstance(self.block_private, bool):
            raise ValueError("allow_loopback and block_private must be True or False")
        _check_identities(self.caa_identities)
        if not self.user_agent or any(c in self.user_agent for c in "\r\n"):
            raise ValueError("user_agent must be a non-empty single line")

    @cached_property
    def blocked(self) -> tuple[Network, ...]:
        """Every network the VA refuses to connect to, checked before each connection (each redirect
        hop included)."""
        return block_list(
            allow_loopback=self.allow_loopback,
            block_private=self.block_private,
            own_addresses=self.own_addresses,
            extra=self.blocked_networks,
        )

    @property
    def redirect_ports(self) -> frozenset[int]:
        """Ports an http-01 redirect may point at: the standard 80/443 (as Boulder allows) plus the
        configured challenge ports, so test deployments on high ports behave like production."""
        return frozenset({80, 443, self.http01_port, self.tlsalpn01_port})
