"""Strategies shared by the property tests: JSON values, base64url texts and near-miss mutations of
valid inputs (a random byte string almost never gets past the first check; a mutated valid one does)."""

from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st

from ca_core.jose import b64encode

# The properties that send one real request per example run a third of the profile's examples.
HTTP_EXAMPLES = settings(max_examples=max(10, settings.default.max_examples // 3))

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
JSON: st.SearchStrategy[Any] = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
JSON_OBJECTS: st.SearchStrategy[dict[str, Any]] = st.dictionaries(st.text(max_size=12), JSON, max_size=5)

B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# Texts near base64url: its alphabet plus the characters a lenient decoder would accept or skip.
B64URL_LIKE = st.text(alphabet=B64URL_ALPHABET + "=+/ \n\t.", max_size=64)
BASE64URL_OF_BYTES = st.binary(max_size=96).map(b64encode)


@st.composite
def mutated(draw: st.DrawFn, valid: bytes) -> bytes:
    """`valid` with a few bytes replaced, inserted or removed, or cut short."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        action = draw(st.sampled_from(["replace", "insert", "delete", "truncate"]))
        position = draw(st.integers(min_value=0, max_value=max(0, len(data) - 1)))
        if action == "replace" and data:
            data[position] = draw(st.integers(min_value=0, max_value=255))
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=4))
        elif action == "delete" and data:
            del data[position]
        else:
            del data[position:]
    return bytes(data)
