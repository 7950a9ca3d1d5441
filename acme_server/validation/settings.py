"""ValidationSettings: the VA's configuration value, checked once when it is built (ARCHITECTURE rule 7)."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network

# Link-local covers the cloud metadata endpoints (169.254.169.254, fd00:ec2::254 sits in ULA space and
# must be added by the deployment). Loopback and RFC 1918 stay reachable by default: a private CA
# validates names inside the private network.
DEFAULT_BLOCKED_NETWORKS: tuple[IPv4Network | IPv6Network, ...] = (
    IPv4Network("169.254.0.0/16"),
    IPv6Network("fe80::/10"),
)


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
    HTTP exchange including its redirects' own hops, one TLS handshake)."""

    http01_port: int = 80
    tlsalpn01_port: int = 443
    dns_resolver: tuple[str, int] | None = None  # None: the system's resolver (/etc/resolv.conf)
    timeout: float = 10.0
    max_redirects: int = 10
    max_body_bytes: int = 64 * 1024
    blocked_networks: tuple[IPv4Network | IPv6Network, ...] = DEFAULT_BLOCKED_NETWORKS
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
        _check_identities(self.caa_identities)
        if not self.user_agent or any(c in self.user_agent for c in "\r\n"):
            raise ValueError("user_agent must be a non-empty single line")

    @property
    def redirect_ports(self) -> frozenset[int]:
        """Ports an http-01 redirect may point at: the standard 80/443 (as Boulder allows) plus the
        configured challenge ports, so test deployments on high ports behave like production."""
        return frozenset({80, 443, self.http01_port, self.tlsalpn01_port})
