"""The `webhook` destination: POST a certificate (its PEMs, or only its metadata and a download URL)
to an HTTPS URL, signed with HMAC-SHA256 over the timestamp and the exact body. The URL is a
server-side request on a caller's behalf, so the host is resolved here and every address is checked
against the server's block list (DestinationHost.blocked_networks, the validator's) before any socket
opens; the connection goes to the checked address (no second lookup to rebind), redirects are not
followed and the receiver's answer is never read beyond its status (docs/security.md "Webhook syncs")."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import socket
import ssl
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from acme_server.destinations.base import Bundle, DestinationError, DestinationHost, PushResult, read_secrets
from acme_server.validation.blocklist import IPAddress, Network, blocking_network
from ca_core.documents import read_boolean, read_object, read_string
from ca_core.errors import InvalidSetting
from ca_core.export import load_certificates_pem

_KEYS: Final = ("url", "body", "includeKey", "caCertificates", "timeout")
_SECRETS: Final = ("hmacKey",)
BODY_MODES: Final = ("bundle", "metadata")
DEFAULT_TIMEOUT: Final = 10.0  # seconds, for connecting and for the answer
SIGNATURE_HEADER: Final = "X-Acme-Server-Signature"
TIMESTAMP_HEADER: Final = "X-Acme-Server-Timestamp"
DELIVERY_HEADER: Final = "X-Acme-Server-Delivery"
_MIN_KEY_LENGTH: Final = 16


def sign(key: bytes, timestamp: str, body: bytes) -> str:
    """The signature header's value: HMAC-SHA256 over `timestamp`, a dot and the exact body, so a
    receiver rejecting old timestamps also rejects a replayed body."""
    mac = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def document(bundle: Bundle, *, mode: str, include_key: bool) -> dict[str, Any]:
    """The JSON body: metadata always; the PEMs in `bundle` mode; the key only when asked for and held."""
    body: dict[str, Any] = {
        "event": "certificate.issued",
        "certificateId": bundle.certificate_id,
        "serial": bundle.serial,
        "commonName": bundle.common_name,
        "names": list(bundle.names),
        "notAfter": None if bundle.not_after is None else bundle.not_after.isoformat(),
        "downloadUrl": bundle.download_url,
    }
    if mode == "bundle":
        body["certificatePem"] = bundle.certificate_pem
        body["chainPem"] = bundle.chain_pem
        if include_key and bundle.private_key_pem is not None:
            body["privateKeyPem"] = bundle.private_key_pem
    return body


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    host: str  # lower-case name or IP literal (IPv6 without brackets)
    port: int
    mode: str
    include_key: bool
    ca_certificates: str | None  # PEM trust anchors for the receiver; None: the system's
    timeout: float
    key: bytes
    blocked: tuple[Network, ...]

    async def push(self, bundle: Bundle, state: Mapping[str, Any]) -> PushResult:
        address = await self._address()
        body = json.dumps(document(bundle, mode=self.mode, include_key=self.include_key)).encode()
        timestamp = str(int(time.time()))
        delivery = uuid.uuid4().hex
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "acme-server-webhook/1",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self.key, timestamp, body),
            DELIVERY_HEADER: delivery,
        }
        status = await self._post(address, headers, body)
        if status in range(300, 400):
            raise DestinationError(f"the webhook answered {status}; redirects are not followed")
        if not 200 <= status < 300:
            raise DestinationError(f"the webhook answered {status}")
        return PushResult(
            f"POSTed {self.mode} of {bundle.serial} to {self.url}: {status}",
            {"serial": bundle.serial, "delivery": delivery, "status": status},
        )

    async def _address(self) -> IPAddress:
        """The first address of the host outside the block list; refused when there is none."""
        addresses = await _resolve(self.host, self.port)
        if not addresses:
            raise DestinationError(f"webhook host {self.host} does not resolve")
        for address in addresses:
            if blocking_network(address, self.blocked) is None:
                return address
        shown = ", ".join(f"{a} (in {blocking_network(a, self.blocked)})" for a in addresses)
        raise DestinationError(
            f"refusing to connect to {self.host}: every address is in a blocked network: {shown}"
        )

    async def _post(self, address: IPAddress, headers: dict[str, str], body: bytes) -> int:
        literal = f"[{address}]" if address.version == 6 else str(address)
        parts = urlsplit(self.url)
        path = parts.path or "/"
        pinned = f"https://{literal}:{self.port}{path}" + (f"?{parts.query}" if parts.query else "")
        authority = f"[{self.host}]" if ":" in self.host else self.host
        headers = {**headers, "Host": authority if self.port == 443 else f"{authority}:{self.port}"}
        try:
            async with (
                httpx.AsyncClient(
                    verify=self._tls(), timeout=self.timeout, follow_redirects=False, trust_env=False
                ) as client,
                client.stream(
                    "POST", pinned, content=body, headers=headers, extensions={"sni_hostname": self.host}
                ) as response,
            ):
                return response.status_code  # the answer's body is never read
        except httpx.TimeoutException:
            raise DestinationError(
                f"the webhook at {self._origin} did not answer within {self.timeout:g}s"
            ) from None
        except httpx.ConnectError as exc:
            reason = "TLS verification failed" if _caused_by_tls(exc) else "connection failed"
            raise DestinationError(f"the webhook at {self._origin}: {reason}") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise DestinationError(f"the webhook at {self._origin}: {type(exc).__name__}") from None

    @property
    def _origin(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    def _tls(self) -> ssl.SSLContext:
        return _tls_context(self.ca_certificates)


def _tls_context(ca_certificates: str | None) -> ssl.SSLContext:
    """The system's trust store, or only `ca_certificates` when given (the receiver's own CA)."""
    if ca_certificates is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cadata=ca_certificates)
    except (ssl.SSLError, ValueError):
        raise InvalidSetting("config.caCertificates", "OpenSSL cannot load these certificates") from None


def _caused_by_tls(error: BaseException) -> bool:
    """Whether an httpx error comes from a refused TLS handshake (httpx wraps httpcore's error)."""
    seen: BaseException | None = error
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    found: dict[IPAddress, None] = {}
    for info in infos:
        found[ipaddress.ip_address(str(info[4][0]).split("%")[0])] = None
    return list(found)


def _url(value: object, blocked: tuple[Network, ...]) -> tuple[str, str, int]:
    path = "config.url"
    url = read_string(value, path)
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError:
        raise InvalidSetting(path, "is not a URL") from None
    if parts.scheme != "https" or not parts.hostname:
        raise InvalidSetting(path, "must be an https:// URL (the body may carry a private key)")
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise InvalidSetting(path, "must not carry a user name, password or fragment")
    host = parts.hostname.lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return url, host, port
    network = blocking_network(address, blocked)
    if network is not None:
        raise InvalidSetting(
            path,
            f"{address} is in a blocked network ({network}); the server's block list applies to webhooks",
        )
    return url, host, port


def _ca_certificates(value: object) -> str | None:
    if value is None:
        return None
    text = read_string(value, "config.caCertificates")
    try:
        load_certificates_pem(text.encode())
    except InvalidSetting:
        raise InvalidSetting("config.caCertificates", "must be PEM certificates") from None
    _tls_context(text)
    return text


def _timeout(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 60:
        raise InvalidSetting("config.timeout", "must be a number of seconds between 0 and 60")
    return float(value)


def _key(secrets: Mapping[str, str]) -> bytes:
    if "hmacKey" not in read_secrets(secrets, _SECRETS):
        raise InvalidSetting("secrets.hmacKey", "is required: the key the receiver checks signatures with")
    key = secrets["hmacKey"]
    if len(key) < _MIN_KEY_LENGTH:
        raise InvalidSetting("secrets.hmacKey", f"must be at least {_MIN_KEY_LENGTH} characters")
    return key.encode()


class WebhookDestination:
    type_name = "webhook"
    secret_names: tuple[str, ...] = _SECRETS

    def admin_reason(self, config: Mapping[str, Any], host: DestinationHost) -> str | None:
        # The URL is the caller's: a private key sent there is handed to whoever runs it.
        if config.get("includeKey") is True:
            return "only an admin may set config.includeKey of a webhook sync"
        return None

    def configure(
        self, config: Mapping[str, Any], secrets: Mapping[str, str], host: DestinationHost
    ) -> WebhookTarget:
        settings = read_object(config, "config", _KEYS, root="config")
        if "url" not in settings:
            raise InvalidSetting("config.url", "is required: the https:// URL to POST to")
        url, name, port = _url(settings["url"], host.blocked_networks)
        mode = settings.get("body", "bundle")
        if mode not in BODY_MODES:
            raise InvalidSetting("config.body", f"choose one of {', '.join(BODY_MODES)}")
        include_key = read_boolean(settings.get("includeKey", False), "config.includeKey")
        if include_key and mode != "bundle":
            raise InvalidSetting("config.includeKey", "needs body 'bundle' (metadata never carries a key)")
        return WebhookTarget(
            url=url,
            host=name,
            port=port,
            mode=str(mode),
            include_key=include_key,
            ca_certificates=_ca_certificates(settings.get("caCertificates")),
            timeout=_timeout(settings.get("timeout", DEFAULT_TIMEOUT)),
            key=_key(secrets),
            blocked=host.blocked_networks,
        )
