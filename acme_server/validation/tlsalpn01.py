"""tls-alpn-01 (RFC 8737): TLS handshake (ALPN acme-tls/1) whose certificate proves the key authorization."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ssl
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

from acme_server.validation.blocklist import IPAddress
from acme_server.validation.failures import ValidationFailure
from acme_server.validation.resolver import Resolver
from acme_server.validation.settings import ValidationSettings
from acme_server.validation.targets import Identifier, plan_connection

ACME_TLS_1 = "acme-tls/1"
# RFC 8737 §3 / §6.1: id-pe-acmeIdentifier.
ACME_IDENTIFIER_OID = ObjectIdentifier("1.3.6.1.5.5.7.1.31")

# Error types (RFC 8555 §6.7): no TCP connection or a timeout is `connection`; a failed handshake or
# an ALPN other than acme-tls/1 is `tls`; a certificate that does not prove the key authorization
# (SANs, missing or non-critical acmeIdentifier, wrong digest) is `incorrectResponse`, as for the
# other challenges here (Boulder and Pebble say `unauthorized`, predating that type).


class _ConnectFailure(ValidationFailure):
    """No TCP connection: the next address may be tried."""


def sni_name(identifier: Identifier) -> str:
    """RFC 8737 §3: SNI is the DNS name; RFC 8738 §6: an IP address is sent as its reverse-mapping
    name (in-addr.arpa / ip6.arpa), since RFC 6066 §3 does not allow IP literals in SNI."""
    if identifier.address is not None:
        return identifier.address.reverse_pointer
    return identifier.name


def _client_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # The validation certificate is self-signed by design (RFC 8737 §4: no valid signature needed).
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    # RFC 8737 §4: only TLS 1.2 or higher may be negotiated.
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # RFC 8737 §3: the ALPN extension carries the single protocol name "acme-tls/1".
    context.set_alpn_protocols([ACME_TLS_1])
    return context


class TLSALPN01:
    def __init__(self, settings: ValidationSettings, resolver: Resolver) -> None:
        self._settings = settings
        self._resolver = resolver
        self._context = _client_context()

    async def validate(
        self, identifier: Identifier, key_authorization: str, records: list[dict[str, Any]]
    ) -> None:
        port = self._settings.tlsalpn01_port
        sni = sni_name(identifier)
        record: dict[str, Any] = {"hostname": identifier.name, "port": port, "sni": sni}
        blocked = self._settings.blocked
        candidates = await plan_connection(identifier.name, self._resolver, blocked, record, records)
        for index, address in enumerate(candidates):
            records.append(record | {"address_used": str(address)})
            try:
                certificate, alpn = await self._handshake(address, port, sni)
            except _ConnectFailure:
                if index == len(candidates) - 1:
                    raise
                continue
            where = f"{identifier.url_host}:{port} [{address}]"
            if alpn != ACME_TLS_1:
                # RFC 8737 §3: the "acme-tls/1" protocol must have been negotiated.
                raise ValidationFailure("tls", f"{where} did not negotiate the ALPN protocol {ACME_TLS_1!r}")
            check_certificate(certificate, identifier, key_authorization, where)
            return
        # Never fall through to "valid": plan_connection returns at least one address or raises.
        raise AssertionError("plan_connection returned no address")

    async def _handshake(self, address: IPAddress, port: int, sni: str) -> tuple[bytes, str | None]:
        """The peer certificate (DER) and the negotiated ALPN protocol; the connection is closed right
        after the handshake (RFC 8737 §4: no application data is exchanged). TCP and TLS are two
        steps so that a TCP failure (`connection`, next address) is told apart from a TLS one (`tls`)."""
        where = f"{address} port {port}"
        writer = await self._connect(address, port, where)
        try:
            async with asyncio.timeout(self._settings.timeout):
                await writer.start_tls(self._context, server_hostname=sni)
            tls = writer.get_extra_info("ssl_object")
            return tls.getpeercert(binary_form=True) or b"", tls.selected_alpn_protocol()
        except TimeoutError as error:
            raise ValidationFailure("connection", f"timeout during the TLS handshake with {where}") from error
        except OSError as error:  # ssl.SSLError included; also a reset in the middle of the handshake
            raise ValidationFailure("tls", f"TLS handshake with {where} failed: {_reason(error)}") from error
        finally:
            writer.transport.abort()

    async def _connect(self, address: IPAddress, port: int, where: str) -> asyncio.StreamWriter:
        try:
            async with asyncio.timeout(self._settings.timeout):
                _, writer = await asyncio.open_connection(str(address), port)
        except TimeoutError as error:
            raise _ConnectFailure("connection", f"timeout connecting to {where}") from error
        except OSError as error:
            raise _ConnectFailure("connection", f"could not connect to {where}: {_reason(error)}") from error
        return writer


def _reason(error: OSError) -> str:
    if isinstance(error, ssl.SSLError) and error.reason:
        return error.reason
    return error.strerror or type(error).__name__


def check_certificate(der: bytes, identifier: Identifier, key_authorization: str, where: str) -> None:
    """RFC 8737 §3: the certificate has a subjectAltName with exactly the identifier, and a critical
    acmeIdentifier extension holding SHA-256 of the key authorization."""
    try:
        certificate = x509.load_der_x509_certificate(der)
        extensions = certificate.extensions
    except (ValueError, x509.DuplicateExtension) as error:
        raise ValidationFailure("incorrectResponse", f"{where} sent an unreadable certificate") from error
    _check_subject_alt_name(extensions, identifier, where)
    _check_acme_identifier(extensions, key_authorization, where)


def _check_subject_alt_name(extensions: x509.Extensions, identifier: Identifier, where: str) -> None:
    try:
        names = list(extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        names = []
    expected: x509.GeneralName
    if identifier.address is not None:
        # RFC 8738 §6: a single iPAddress equal to the address being validated.
        expected = x509.IPAddress(identifier.address)
        matches = names == [expected]
    else:
        expected = x509.DNSName(identifier.name)
        matches = (
            len(names) == 1
            and isinstance(names[0], x509.DNSName)
            and names[0].value.lower().removesuffix(".") == identifier.name
        )
    if not matches:
        # The names are the remote's; only their count is shown (RFC 8555 §10.2).
        raise ValidationFailure(
            "incorrectResponse",
            f"the certificate from {where} must name only {expected.value} in subjectAltName; "
            f"entries found: {len(names)}",
        )


def _check_acme_identifier(extensions: x509.Extensions, key_authorization: str, where: str) -> None:
    try:
        extension = extensions.get_extension_for_oid(ACME_IDENTIFIER_OID)
    except x509.ExtensionNotFound:
        raise ValidationFailure(
            "incorrectResponse", f"the certificate from {where} has no acmeIdentifier extension"
        ) from None
    if not extension.critical:
        raise ValidationFailure(
            "incorrectResponse",
            f"the acmeIdentifier extension in the certificate from {where} is not critical",
        )
    # RFC 8737 §3: extnValue is the DER of `Authorization ::= OCTET STRING (SIZE (32))`, that is
    # tag 0x04, length 0x20, then the SHA-256 digest of the key authorization.
    value = extension.value.public_bytes()
    expected = hashlib.sha256(key_authorization.encode("ascii")).digest()
    if len(value) != 34 or value[:2] != b"\x04\x20":
        raise ValidationFailure(
            "incorrectResponse",
            f"the acmeIdentifier extension from {where} is not a DER OCTET STRING of 32 bytes",
        )
    if not hmac.compare_digest(value[2:], expected):
        raise ValidationFailure(
            "incorrectResponse",
            f"the acmeIdentifier extension from {where} does not hold the key authorization digest",
        )
