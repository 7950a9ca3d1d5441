"""ca_core.metadata: "key=value" items as every edge (CLI, API, UI) reads them."""

from __future__ import annotations

import pytest

from ca_core.errors import InvalidSetting
from ca_core.metadata import parse_pairs


def test_pairs_are_stripped_and_a_later_key_wins() -> None:
    assert parse_pairs([" team = payments ", "env=prod", "env=staging", "note=a=b", "empty="], field="m") == {
        "team": "payments",
        "env": "staging",
        "note": "a=b",
        "empty": "",
    }


@pytest.mark.parametrize("item", ["team", "=payments", " =x"])
def test_an_item_without_a_key_names_the_field(item: str) -> None:
    with pytest.raises(InvalidSetting) as raised:
        parse_pairs(["ok=1", item], field="--metadata")
    assert raised.value.field == "--metadata"
    assert raised.value.detail == f"--metadata: {item!r}: use key=value"
