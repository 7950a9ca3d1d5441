"""The strict base64url decoder (ca_core.jose.b64decode, RFC 7515 §2 / RFC 8555 §6.5.1) for arbitrary
text: it returns bytes or raises CAError, never anything else, and it accepts exactly one spelling
of each byte string."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ca_core.errors import CAError
from ca_core.jose import b64decode, b64encode
from tests.property.strategies import B64URL_LIKE, BASE64URL_OF_BYTES


def _decoded(text: str) -> bytes | None:
    try:
        return b64decode(text)
    except CAError as error:
        assert type(error) is CAError and error.detail.startswith("invalid base64url")
        return None


@given(st.text() | B64URL_LIKE)
def test_arbitrary_text_decodes_or_raises_caerror(text: str) -> None:
    _decoded(text)


@given(st.binary(max_size=256))
def test_rfc7515_encoding_round_trips(data: bytes) -> None:
    assert b64decode(b64encode(data)) == data


@given(B64URL_LIKE)
def test_only_the_canonical_spelling_is_accepted(text: str) -> None:
    """A lenient decoder maps many texts to one value (padding, whitespace, non-zero trailing bits);
    this one accepts a text only when it is exactly the encoding of what it decodes to."""
    decoded = _decoded(text)
    if decoded is not None:
        assert b64encode(decoded) == text


@given(BASE64URL_OF_BYTES, st.sampled_from(["=", "==", " ", "\n", "+", "/", "."]), st.data())
def test_padding_whitespace_and_base64_alphabet_are_refused(
    encoded: str, extra: str, data: st.DataObject
) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(encoded)))
    assert _decoded(encoded[:position] + extra + encoded[position:]) is None


@given(st.binary(min_size=1, max_size=64))
def test_standard_base64_with_plus_or_slash_never_decodes(data: bytes) -> None:
    standard = base64.b64encode(data).decode().rstrip("=")
    if "+" in standard or "/" in standard:
        assert _decoded(standard) is None


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=8), st.binary(max_size=16))
def test_non_ascii_is_refused(prefix: str, data: bytes) -> None:
    text = prefix + b64encode(data)
    if not text.isascii():
        assert _decoded(text) is None


@given(st.one_of(st.none(), st.integers(), st.binary(), st.lists(st.text())))
def test_a_non_string_raises_caerror(value: object) -> None:
    with pytest.raises(CAError):
        b64decode(value)  # type: ignore[arg-type]
