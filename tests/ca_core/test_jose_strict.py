"""ca_core.jose input strictness: one base64url decoder and one JSON loader for every JWS part."""

from __future__ import annotations

import pytest

from ca_core.errors import CAError
from ca_core.jose import b64decode, b64encode, load_json, parse_jwk


@pytest.mark.parametrize("text", ["AQ==", "AQ=", "AR", "A", "AQ..", "+/8", "AQ\n", " AQ", "A Q", "AQ\x00"])
def test_rfc7515_2_b64decode_refuses_non_canonical_base64url(text: str) -> None:
    with pytest.raises(CAError):
        b64decode(text)


@pytest.mark.parametrize("data", [b"", b"\x01", b"\xfb\xff", b"\xff\xfe\xfd", bytes(range(256))])
def test_rfc7515_2_b64decode_round_trips_canonical_text(data: bytes) -> None:
    assert b64decode(b64encode(data)) == data


def test_jwk_members_are_decoded_strictly() -> None:
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64encode(bytes(32)) + "="}
    with pytest.raises(CAError):
        parse_jwk(jwk)


@pytest.mark.parametrize(
    "raw", [b"[" * 100_000, b'{"a":' * 5_000 + b"1" + b"}" * 5_000, b"[" * 17 + b"]" * 17, b"{"]
)
def test_load_json_refuses_deep_or_broken_json(raw: bytes) -> None:
    with pytest.raises(CAError):
        load_json(raw)


def test_load_json_accepts_sixteen_levels() -> None:
    assert load_json(b"[" * 16 + b"]" * 16) is not None
    assert load_json(b'{"identifiers":[{"type":"dns","value":"a"}]}') == {
        "identifiers": [{"type": "dns", "value": "a"}]
    }
