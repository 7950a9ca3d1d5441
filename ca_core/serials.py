"""Certificate serial numbers: generated at random (CA/B Forum BR §7.1: at least 64 bits from a CSPRNG),
written as even-length lowercase hex, parsed from what operators paste."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Final

from ca_core.errors import InvalidSetting

_RANDOM_BITS: Final = 127
# RFC 5280 §4.1.2.2: serials are positive and at most 20 octets of DER INTEGER content; the sign bit
# costs one bit, so the largest acceptable value has 159 bits.
MAX_SERIAL: Final = (1 << 159) - 1
_SEPARATORS: Final = re.compile(r"[:\s]")
_HEX: Final = re.compile(r"[0-9a-f]+")


def random_serial(randbits: Callable[[int], int] = secrets.randbits) -> int:
    """127 random bits under a fixed top bit: always 128 bits long (17 DER octets), never zero."""
    return (1 << _RANDOM_BITS) | randbits(_RANDOM_BITS)


def format_serial(serial: int) -> str:
    """Lowercase hex with an even number of digits, e.g. 0x1abc -> "1abc", 0xabc -> "0abc"."""
    if serial < 0:
        raise InvalidSetting("serial", f"serial numbers are not negative, got {serial}")
    digits = f"{serial:x}"
    return digits if len(digits) % 2 == 0 else "0" + digits


def parse_serial(text: str) -> int:
    """A serial from hex text: "0a:1b:..", "0x0a1b..", "0A1B" (as openssl and browsers print it)."""
    cleaned = _SEPARATORS.sub("", text.strip().lower()).removeprefix("0x")
    if not _HEX.fullmatch(cleaned):
        raise InvalidSetting("serial", f"{text!r} is not a hexadecimal serial number")
    serial = int(cleaned, 16)
    if not 0 < serial <= MAX_SERIAL:
        raise InvalidSetting("serial", f"{text!r} is not a positive serial of at most 20 octets (RFC 5280)")
    return serial
