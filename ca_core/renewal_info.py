"""ACME Renewal Information (RFC 9773): the certificate identifier (base64url of the AKI keyIdentifier
"." base64url of the serial's DER integer bytes) and the suggested renewal window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509

from ca_core.errors import CAError
from ca_core.jose import b64decode, b64encode
from ca_core.serials import MAX_SERIAL


class MalformedCertID(CAError):
    """Not an RFC 9773 §4.1 certificate identifier."""


@dataclass(frozen=True)
class ARICertID:
    key_identifier: bytes  # the certificate's Authority Key Identifier keyIdentifier
    serial: int


@dataclass(frozen=True)
class RenewalWindow:
    """RFC 9773 §4.2 suggestedWindow: renew at a random moment between start and end."""

    start: datetime
    end: datetime


def _unb64url(text: str) -> bytes:
    if not text or any(c in text for c in "+/"):  # §4.1: base64url without padding
        raise MalformedCertID("certID parts are unpadded base64url")
    try:
        return b64decode(text)
    except CAError:
        raise MalformedCertID("certID parts are unpadded base64url") from None


def serial_bytes(serial: int) -> bytes:
    """The content octets of the DER INTEGER (a leading zero when the high bit is set)."""
    return serial.to_bytes(serial.bit_length() // 8 + 1, "big")


def cert_id(certificate: x509.Certificate) -> str:
    """The certID of an issued certificate (it must carry an AKI keyIdentifier, as all ours do)."""
    try:
        aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        raise MalformedCertID("the certificate has no Authority Key Identifier") from None
    if aki.key_identifier is None:
        raise MalformedCertID("the certificate's Authority Key Identifier has no keyIdentifier")
    return f"{b64encode(aki.key_identifier)}.{b64encode(serial_bytes(certificate.serial_number))}"


def parse_cert_id(text: str) -> ARICertID:
    key_part, dot, serial_part = text.partition(".")
    if not dot or "." in serial_part:
        raise MalformedCertID("a certID is base64url(keyIdentifier) '.' base64url(serial)")
    key_identifier = _unb64url(key_part)
    encoded = _unb64url(serial_part)
    serial = int.from_bytes(encoded, "big")
    # A DER INTEGER in minimal form: no superfluous leading zero, positive (RFC 5280 §4.1.2.2 serials).
    if encoded[0] & 0x80 or serial_bytes(serial) != encoded or not 0 < serial <= MAX_SERIAL:
        raise MalformedCertID("the certID serial is not the DER encoding of a positive serial number")
    return ARICertID(key_identifier, serial)


def suggested_window(not_before: datetime, not_after: datetime, percent: tuple[int, int]) -> RenewalWindow:
    """The window between `percent[0]` and `percent[1]` of the lifetime, from notBefore."""
    lifetime = not_after - not_before
    start, end = (not_before + lifetime * p / 100 for p in percent)
    return RenewalWindow(start.replace(microsecond=0), end.replace(microsecond=0))


def renew_now_window(since: datetime) -> RenewalWindow:
    """A window already past (§4.2: the client SHOULD renew at once) for a certificate that must be
    replaced since `since` (revoked, its CA rotated out, or an operator asked)."""
    end = since.replace(microsecond=0)
    return RenewalWindow(end - timedelta(hours=1), end)
