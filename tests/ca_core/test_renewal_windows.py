"""RFC 9773 certificate identifiers and suggested windows: the same certID the `acme` library (certbot)
computes, the RFC's own example, strict parsing, and windows as fractions of the lifetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from acme.client import _renewal_info_path_component

from ca_core.issuance import issue
from ca_core.renewal_info import (
    MalformedCertID,
    cert_id,
    parse_cert_id,
    renew_now_window,
    serial_bytes,
    suggested_window,
)
from ca_core.serials import random_serial
from tests.ca_core.helpers import NOW, leaf_request, make_intermediate, make_root, web_profile


def test_cert_id_is_what_the_acme_library_sends() -> None:
    inter = make_intermediate(make_root())
    for serial in (1, 0x7F, 0x80, 0xFFFF, random_serial(), random_serial()):
        leaf = issue(inter, web_profile(), leaf_request()[0], serial=serial, now=NOW).certificate
        assert cert_id(leaf) == _renewal_info_path_component(leaf)
        parsed = parse_cert_id(cert_id(leaf))
        assert (
            parsed.serial == serial
            and parsed.key_identifier == inter.authority_key_identifier().key_identifier
        )


def test_the_rfc_9773_example_parses() -> None:
    parsed = parse_cert_id("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE")
    assert parsed.key_identifier.hex() == "69885b6b87464041e1b37b847ba0ae2cde01c8d4"
    assert parsed.serial == 0x87654321
    assert serial_bytes(0x87654321) == bytes.fromhex("0087654321")


@pytest.mark.parametrize(
    "text",
    ["", "no-dot", "a.b.c", "aYhba4dGQEHhs3uEe6CuLN4ByNQ.", ".AIdlQyE", "aYhb+4dG.AIdlQyE",
     "aYhb.AIdlQyE=", "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AACHZUMh", "aYhba4dGQEHhs3uEe6CuLN4ByNQ.h2VDIQ",
     "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AA"],
)  # fmt: skip
def test_malformed_cert_ids_are_refused(text: str) -> None:
    with pytest.raises(MalformedCertID):
        parse_cert_id(text)


def test_suggested_window_is_a_share_of_the_lifetime() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    window = suggested_window(start, start + timedelta(days=90), (67, 100))
    assert window.start == start + timedelta(days=60, hours=7, minutes=12)
    assert window.end == start + timedelta(days=90)
    assert suggested_window(start, start + timedelta(days=10), (50, 75)).end == start + timedelta(days=7.5)


def test_renew_now_window_ends_when_renewal_was_asked() -> None:
    moment = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    window = renew_now_window(moment)
    assert window.end == moment.replace(microsecond=0) and window.start == window.end - timedelta(hours=1)
