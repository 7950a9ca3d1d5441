"""Loopback challenge responders for the VA tests: a scripted DNS server, an HTTP responder, a silent
server, a TLS-ALPN responder and the certificates it serves. Nothing here listens beyond 127.0.0.1/::1."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from acme_server.services.ports import ChallengeType, IdentifierType, ValidationTask
from acme_server.validation.tlsalpn01 import ACME_IDENTIFIER_OID

# RFC 8555 §8.1 example values.
TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
KEY_AUTHORIZATION = TOKEN + ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
CHALLENGE_PATH = f"/.well-known/acme-challenge/{TOKEN}"


def make_task(
    challenge: ChallengeType,
    value: str,
    *,
    ip: bool = False,
    token: str = TOKEN,
    key_authorization: str = KEY_AUTHORIZATION,
) -> ValidationTask:
    return ValidationTask(
        challenge_type=challenge,
        identifier_type=IdentifierType.IP if ip else IdentifierType.DNS,
        identifier_value=value,
        token=token,
        key_authorization=key_authorization,
    )


def unused_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on (bound then released), for "connection refused"."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# --- DNS -------------------------------------------------------------------------------------------


class ScriptedDNS(asyncio.DatagramProtocol):
    """Answers like a recursive resolver from a script: CNAME chains are expanded into the answer,
    unknown names are NXDOMAIN, known names without the asked type are NODATA; `servfail` names get
    SERVFAIL and `silent` names never get an answer."""

    def __init__(self) -> None:
        self.zone: dict[tuple[dns.name.Name, int], list[str]] = {}
        self.cnames: dict[dns.name.Name, dns.name.Name] = {}
        self.servfail: set[dns.name.Name] = set()
        self.silent: set[dns.name.Name] = set()
        self.queries: list[tuple[str, str]] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    def add(self, name: str, rdtype: str, *values: str) -> None:
        key = (dns.name.from_text(name), dns.rdatatype.from_text(rdtype))
        self.zone.setdefault(key, []).extend(values)

    def add_cname(self, name: str, target: str) -> None:
        self.cnames[dns.name.from_text(name)] = dns.name.from_text(target)

    def fail(self, name: str) -> None:
        self.servfail.add(dns.name.from_text(name))

    def drop(self, name: str) -> None:
        self.silent.add(dns.name.from_text(name))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's transport

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        response = self.answer(dns.message.from_wire(data))
        if response is not None and self.transport is not None:
            self.transport.sendto(response.to_wire(), addr)

    def answer(self, query: dns.message.Message) -> dns.message.Message | None:
        question = query.question[0]
        name, rdtype = question.name, question.rdtype
        self.queries.append((name.to_text(omit_final_dot=True), dns.rdatatype.to_text(rdtype)))
        if name in self.silent:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        if name in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response
        while name in self.cnames and rdtype != dns.rdatatype.CNAME:
            target = self.cnames[name]
            response.answer.append(dns.rrset.from_text(name, 60, "IN", "CNAME", target.to_text()))
            name = target
        values = self.zone.get((name, rdtype))
        if values:
            response.answer.append(dns.rrset.from_text_list(name, 60, "IN", rdtype, values))
        elif not any(known == name for known, _ in self.zone):
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response


# --- HTTP ------------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    declare_length: bool = True  # False: no Content-Length, the body ends when the connection closes
    raw: bytes | None = None  # sent as is instead of a rendered response


@dataclass
class SeenRequest:
    path: str
    headers: dict[str, str]


class HTTPResponder:
    """A minimal HTTP/1.1 server: one request per connection, replies from `routes` (404 otherwise)."""

    def __init__(self) -> None:
        self.routes: dict[str, Reply] = {}
        self.requests: list[SeenRequest] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            _, path, _ = lines[0].split(" ", 2)
            fields = (line.split(":", 1) for line in lines[1:] if line)
            headers = {key.strip().lower(): value.strip() for key, value in fields}
            self.requests.append(SeenRequest(path, headers))
            writer.write(self._render(self.routes.get(path, Reply(404, b"not found"))))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()

    @staticmethod
    def _render(reply: Reply) -> bytes:
        if reply.raw is not None:
            return reply.raw
        headers = {"Connection": "close", **reply.headers}
        if reply.declare_length:
            headers["Content-Length"] = str(len(reply.body))
        head = f"HTTP/1.1 {reply.status} Scripted\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        return head.encode("latin-1") + b"\r\n" + reply.body


# --- TLS -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChallengeCertificate:
    cert_pem: bytes
    key_pem: bytes


def acme_identifier_value(key_authorization: str) -> bytes:
    """RFC 8737 §3: DER of Authorization ::= OCTET STRING (SIZE (32)) holding SHA-256(key authorization)."""
    return b"\x04\x20" + hashlib.sha256(key_authorization.encode()).digest()


def challenge_certificate(
    sans: list[x509.GeneralName],
    *,
    extension_value: bytes | None,
    critical: bool = True,
) -> ChallengeCertificate:
    """A self-signed certificate as an ACME client builds it for tls-alpn-01; `extension_value` None
    leaves the acmeIdentifier extension out."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acme tls-alpn-01 test")])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if extension_value is not None:
        extension = x509.UnrecognizedExtension(ACME_IDENTIFIER_OID, extension_value)
        builder = builder.add_extension(extension, critical=critical)
    certificate = builder.sign(key, hashes.SHA256())
    return ChallengeCertificate(
        cert_pem=certificate.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


def server_context(
    certificate: ChallengeCertificate,
    directory: Path,
    *,
    alpn: list[str] | None,
    server_names: list[str | None],
    expected_sni: str | None = None,
) -> ssl.SSLContext:
    """A server context serving `certificate`; it records each SNI it sees and, with `expected_sni`,
    refuses any other name with an unrecognized_name alert (as a real responder would)."""
    cert_path = directory / f"cert-{id(certificate)}.pem"
    key_path = directory / f"key-{id(certificate)}.pem"
    cert_path.write_bytes(certificate.cert_pem)
    key_path.write_bytes(certificate.key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    if alpn is not None:
        context.set_alpn_protocols(alpn)

    def check_sni(_: ssl.SSLObject, server_name: str | None, __: ssl.SSLContext) -> int | None:
        server_names.append(server_name)
        if expected_sni is not None and server_name != expected_sni:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        return None

    context.sni_callback = check_sni
    return context
