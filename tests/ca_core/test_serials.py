"""Serial numbers: random, positive, within RFC 5280's 20 octets, and written/parsed as hex."""

from __future__ import annotations

from pathlib import Path

import pytest

from ca_core.errors import InvalidSetting
from ca_core.serials import format_serial, parse_serial, random_serial
from tests.ca_core.helpers import make_root, openssl, write_pem


def der_integer_octets(n: int) -> int:
    """Content octets of n as a DER INTEGER (two's complement, so a set top bit costs a 0x00)."""
    return n.bit_length() // 8 + 1


def test_thousand_random_serials_are_unique_positive_and_fit_20_octets() -> None:
    serials = [random_serial() for _ in range(1000)]
    assert len(set(serials)) == 1000
    for serial in serials:
        assert serial > 0
        assert serial.bit_length() >= 64
        assert der_integer_octets(serial) <= 20


def test_random_serial_draws_127_random_bits_and_is_never_zero() -> None:
    asked: list[int] = []

    def zero_bits(n: int) -> int:
        asked.append(n)
        return 0

    assert random_serial(zero_bits) == 1 << 127
    assert asked == [127]
    assert random_serial(lambda n: (1 << n) - 1) == (1 << 128) - 1


@pytest.mark.parametrize(
    ("serial", "text"), [(1, "01"), (0xABC, "0abc"), (0x1ABC, "1abc"), (1 << 127, "80" + "00" * 15)]
)
def test_format_serial_is_even_length_lowercase_hex(serial: int, text: str) -> None:
    assert format_serial(serial) == text
    assert parse_serial(text) == serial


@pytest.mark.parametrize("text", ["0a:bc", "0x0ABC", "0A BC", " abc ", "0X0a:Bc"])
def test_parse_serial_accepts_colons_prefix_and_any_case(text: str) -> None:
    assert parse_serial(text) == 0xABC


@pytest.mark.parametrize("text", ["", "0x", "xyz", "12-34", "00", "ff" * 21])
def test_parse_serial_refuses_non_hex_zero_and_oversized(text: str) -> None:
    with pytest.raises(InvalidSetting) as caught:
        parse_serial(text)
    assert caught.value.field == "serial"


def test_parse_serial_reads_what_openssl_prints(tmp_path: Path) -> None:
    root = make_root()
    path = write_pem(tmp_path, "root.pem", root.certificate)
    printed = openssl("x509", "-in", path, "-noout", "-serial").stdout.strip().removeprefix("serial=")
    assert parse_serial(printed) == root.certificate.serial_number
    assert format_serial(root.certificate.serial_number) == printed.lower()
