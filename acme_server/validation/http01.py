"""http-01 (RFC 8555 §8.3): fetch the key authorization over HTTP from addresses the VA resolved itself."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from dataclasses import dataclass
from typing import Any

import httpx

from acme_server.validation import http_wire
from acme_server.validation.blocklist import IPAddress
from acme_server.validation.failures import ValidationFailure
from acme_server.validation.http_wire import WireResponse
from acme_server.validation.resolver import Resolver
from acme_server.validation.settings import ValidationSettings
from acme_server.validation.targets import Identifier, is_hostname, plan_connection

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

# Error types (RFC 8555 §6.7), chosen after Boulder and Pebble where they agree:
# - no connection, timeouts, a broken HTTP exchange, a redirect the VA refuses to follow, too many
#   redirects: `connection` (Boulder's ConnectionFailureError for redirect policy as well);
# - a status other than 200: `unauthorized`, the status in the detail (Boulder and Pebble both);
# - a 200 whose body is not the key authorization, or is larger than max_body_bytes:
#   `incorrectResponse` ("response received didn't match the challenge's requirements"; Boulder
#   still says `unauthorized` here, from before that type existed);
# - the name does not resolve: `dns`.


class _ConnectFailure(ValidationFailure):
    """No TCP (or TLS, after an https redirect) connection: the next address may be tried."""


def tls_context() -> ssl.SSLContext:
    """The VA's TLS for an https redirect target: that host has no certificate yet (that is why it
    asks for one), so TLS is not verified there, as in Boulder; the check is the body, not the TLS
    identity. Each validation opens its own connection (no reuse, as Boulder's DisableKeepAlives)."""
    tls = ssl.create_default_context()
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE
    return tls


@dataclass(frozen=True)
class _Hop:
    """One URL to fetch: `host` is a lower-case name or an IP literal (IPv6 without brackets)."""

    scheme: str
    host: str
    port: int
    path: str  # path and query, already percent-encoded
    redirected: bool = False  # the path came from a Location header, not from us

    @property
    def host_header(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    def url(self) -> str:
        default = 80 if self.scheme == "http" else 443
        port = "" if self.port == default else f":{self.port}"
        return f"{self.scheme}://{self.host_header}{port}{self.path}"

    def shown(self) -> str:
        """The URL for a problem detail: a redirected hop's path and query are remote data (RFC 8555
        §10.2), so only its origin is named."""
        if not self.redirected:
            return self.url()
        return _origin(httpx.URL(self.url())) + "/…"

    def url_for(self, address: IPAddress) -> str:
        host = f"[{address}]" if address.version == 6 else str(address)
        return f"{self.scheme}://{host}:{self.port}{self.path}"


class HTTP01:
    def __init__(self, settings: ValidationSettings, resolver: Resolver) -> None:
        self._settings = settings
        self._resolver = resolver
        self._tls = tls_context()

    async def validate(
        self, identifier: Identifier, token: str, key_authorization: str, records: list[dict[str, Any]]
    ) -> None:
        """Raise ValidationFailure unless http://{identifier}/.well-known/acme-challenge/{token}
        answers 200 with the key authorization (RFC 8555 §8.3)."""
        hop = _Hop(
            "http", identifier.name, self._settings.http01_port, f"/.well-known/acme-challenge/{token}"
        )
        for _ in range(self._settings.max_redirects + 1):
            response = await self._fetch(hop, records)
            location = response.headers.get("location")
            if response.status not in REDIRECT_STATUSES or location is None:
                _check_response(response, hop, key_authorization)
                return
            hop = self._redirect_target(hop, location)
        raise ValidationFailure(
            "connection",
            f"too many redirects: more than {self._settings.max_redirects} while fetching {hop.shown()}",
        )

    async def _fetch(self, hop: _Hop, records: list[dict[str, Any]]) -> WireResponse:
        record: dict[str, Any] = {"hostname": hop.host, "port": hop.port, "url": hop.url()}
        blocked = self._settings.blocked
        candidates = await plan_connection(hop.host, self._resolver, blocked, record, records)
        for index, address in enumerate(candidates):
            records.append(record | {"address_used": str(address)})
            try:
                return await self._exchange(hop, address)
            except _ConnectFailure:
                if index == len(candidates) - 1:
                    raise
        raise AssertionError("plan_connection returned no address")

    async def _exchange(self, hop: _Hop, address: IPAddress) -> WireResponse:
        headers = {
            "Host": hop.host_header,
            "User-Agent": self._settings.user_agent,
            "Accept": "*/*",
            "Accept-Encoding": "identity",  # raw bytes: the VA never inflates what a server sends
        }
        # The socket goes to `address`; an https hop still sends the name as SNI (RFC 6066 §3).
        https = hop.scheme == "https"
        where = f"{hop.shown()} [{address}]"
        try:
            async with asyncio.timeout(self._settings.timeout):
                response = await http_wire.get(
                    str(address),
                    hop.port,
                    http_wire.request_bytes(hop.path, headers),
                    tls=self._tls if https else None,
                    server_hostname=hop.host if https and is_hostname(hop.host) else None,
                    max_body=self._settings.max_body_bytes,
                )
        except http_wire.ConnectFailed as error:
            raise _ConnectFailure("connection", f"could not connect to {where}: {error}") from error
        except TimeoutError as error:
            raise ValidationFailure("connection", f"timeout while fetching {where}") from error
        except http_wire.ExchangeFailed as error:
            # A fixed kind: anything after the connect may quote what the remote sent.
            raise ValidationFailure("connection", f"error fetching {where}: {error}") from error
        if response.too_large:
            raise ValidationFailure(
                "incorrectResponse",
                f"the response from {where} is larger than {self._settings.max_body_bytes} bytes",
            )
        return response

    def _redirect_target(self, hop: _Hop, location: str) -> _Hop:
        """RFC 8555 §8.3 lets the server follow redirects; §10.2 warns where they may lead. The rule
        here (Boulder's): http or https only; a port among 80, 443 and the configured challenge
        ports (a URL without a port means http01_port for http, tlsalpn01_port for https); a host
        name or an IP literal (Boulder refuses IP literals; a private CA validates IP identifiers,
        so they are allowed and pass the same blocked-network check as resolved addresses)."""
        try:
            target = httpx.URL(hop.url()).join(location)
        except httpx.InvalidURL:
            raise _refuse(hop, None, "it is not a valid URL") from None
        if target.scheme not in ("http", "https"):
            raise _refuse(hop, target, 'only "http" and "https" are followed')
        default = self._settings.http01_port if target.scheme == "http" else self._settings.tlsalpn01_port
        port = target.port or default
        if port not in self._settings.redirect_ports:
            allowed = ", ".join(str(p) for p in sorted(self._settings.redirect_ports))
            raise _refuse(hop, target, f"only ports {allowed} are followed")
        host = target.raw_host.decode("ascii").lower()
        if not (_is_ip(host) or is_hostname(host)):
            raise _refuse(hop, target, "its host is neither a DNS name nor an IP address")
        return _Hop(target.scheme, host, port, target.raw_path.decode("ascii"), redirected=True)


def _check_response(response: WireResponse, hop: _Hop, key_authorization: str) -> None:
    if response.status != 200:
        raise ValidationFailure(
            "unauthorized", f"invalid response from {hop.shown()}: HTTP status {response.status}"
        )
    # RFC 8555 §8.3: "the server SHOULD ignore whitespace characters at the end of the body".
    if response.body.rstrip() != key_authorization.encode("ascii"):
        # RFC 8555 §10.2: whatever answered may be an internal service; its body is never echoed
        # into the challenge error (only its length), so validation cannot be used to read it.
        raise ValidationFailure(
            "incorrectResponse",
            f"the key authorization did not match: got {len(response.body)} bytes from {hop.shown()}",
        )


def _refuse(hop: _Hop, target: httpx.URL | None, why: str) -> ValidationFailure:
    """Names the redirect's scheme, host and port (what the refusal is about), never its path or
    query: a Location header is remote data (RFC 8555 §10.2)."""
    where = "an invalid URL" if target is None else _origin(target)
    return ValidationFailure("connection", f"refusing the redirect from {hop.shown()} to {where}: {why}")


def _origin(target: httpx.URL) -> str:
    port = f":{target.port}" if target.port is not None else ""
    host = target.raw_host.decode("ascii", "replace")
    return f"{target.scheme}://{f'[{host}]' if ':' in host else host}{port}"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
