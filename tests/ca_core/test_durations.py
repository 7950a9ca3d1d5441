from datetime import UTC, datetime, timedelta

import pytest

from ca_core.durations import LONGEST, expiry, format_duration, parse_duration
from ca_core.errors import InvalidSetting


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", timedelta(days=90)),
        ("1y", timedelta(days=365)),
        ("2w", timedelta(days=14)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("45s", timedelta(seconds=45)),
        ("12h30m", timedelta(hours=12, minutes=30)),
        ("1y6d", timedelta(days=371)),
        ("1d12h30m15s", timedelta(days=1, hours=12, minutes=30, seconds=15)),
        ("0d12h", timedelta(hours=12)),
        ("90D", timedelta(days=90)),
        ("  7d ", timedelta(days=7)),
    ],
)
def test_operator_durations_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "abc",
        "",
        "   ",
        "90",
        "d",
        "1.5d",
        "-1d",
        "+1d",
        "1d 12h",
        "12h1d",
        "1d1d",
        "1x",
        "٣d",
        "9" * 5000 + "d",
    ],
)
def test_anything_but_a_duration_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidSetting) as caught:
        parse_duration(text, field="maxTtl")
    assert caught.value.field == "maxTtl"
    assert "is not a duration like '30d', '12h30m' or '1y'" in caught.value.detail


@pytest.mark.parametrize("text", ["0d", "0s", "0y0d"])
def test_zero_duration_is_refused(text: str) -> None:
    with pytest.raises(InvalidSetting) as caught:
        parse_duration(text)
    assert caught.value.detail == f"ttl: {text!r} must be longer than zero"


@pytest.mark.parametrize("text", ["999999999999999d", "99999y", "101y", "36501d"])
def test_api_500s_duration_over_100_years_is_refused_not_crashing(text: str) -> None:
    with pytest.raises(InvalidSetting) as caught:
        parse_duration(text, field="defaultTtl")
    assert caught.value.detail == f"defaultTtl: {text!r} is too long: at most 36500d (100 years)"


def test_100_years_is_the_longest_duration() -> None:
    assert parse_duration("36500d") == LONGEST == parse_duration("100y")


def test_expiry_is_start_plus_duration() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert expiry(start, timedelta(days=30), field="expiresIn") == datetime(2026, 1, 31, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "duration", "detail"),
    [
        (datetime(2026, 1, 1, tzinfo=UTC), timedelta(0), "expiresIn: must be longer than zero"),
        (datetime(2026, 1, 1, tzinfo=UTC), -timedelta(days=1), "expiresIn: must be longer than zero"),
        (datetime(2026, 1, 1, tzinfo=UTC), LONGEST + timedelta(seconds=1),
         "expiresIn: must be at most 36500d (100 years)"),
        (datetime(9990, 1, 1, tzinfo=UTC), timedelta(days=3700),
         "expiresIn: would end after 9999-12-31, the latest date there is"),
    ],
)  # fmt: skip
def test_api_500s_expiry_never_passes_the_latest_date(
    start: datetime, duration: timedelta, detail: str
) -> None:
    with pytest.raises(InvalidSetting) as caught:
        expiry(start, duration, field="expiresIn")
    assert caught.value.detail == detail


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (timedelta(days=90), "90d"),
        (timedelta(hours=36), "36h"),
        (timedelta(days=365), "365d"),
        (timedelta(days=1), "1d"),
        (timedelta(hours=12, minutes=30), "750m"),
        (timedelta(minutes=90), "90m"),
        (timedelta(seconds=61), "61s"),
        (timedelta(seconds=45, milliseconds=500), "45s"),
    ],
)
def test_format_is_the_shortest_exact_single_unit(value: timedelta, expected: str) -> None:
    assert format_duration(value) == expected


@pytest.mark.parametrize("text", ["90d", "36h", "1y", "12h30m", "1w", "59s", "1y6d"])
def test_format_then_parse_gives_the_same_duration(text: str) -> None:
    value = parse_duration(text)
    assert parse_duration(format_duration(value)) == value
