"""The identifier normaliser and matchers (ca_core/names.py) for arbitrary text: each returns a value
or raises InvalidIdentifier naming the input, and normalisation is idempotent and yields names the
syntax check accepts."""

from __future__ import annotations

import ipaddress

from hypothesis import example, given
from hypothesis import strategies as st

from ca_core.errors import InvalidIdentifier
from ca_core.names import (
    MAX_DNS_NAME_LENGTH,
    check_dns_name,
    check_dns_pattern,
    check_email,
    check_uri,
    dns_pattern_matches,
    glob_matches,
    ip_in_networks,
    is_dns_pattern,
    normalize_dns_name,
    parse_ip,
    parse_network,
)

# Labels from the LDH alphabet, IDNA-ish letters, the wildcard and the characters that break names.
_LABEL_CHARACTERS = st.sampled_from("abcxyz019-*_ .ÄßéΣσ\u200d\u0301xn--") | st.characters()
LABELS = st.text(alphabet=_LABEL_CHARACTERS, max_size=12) | st.sampled_from(
    ["*", "**", "xn--", "xn--a", "-a"]
)
NAMES = st.lists(LABELS, min_size=1, max_size=5).map(".".join) | st.text(max_size=80)
LDH_NAMES = st.lists(
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True), min_size=1, max_size=4
)


def _invalid_names(error: InvalidIdentifier, given_text: str) -> None:
    assert error.value == given_text and error.detail.startswith(repr(given_text))


@given(NAMES)
@example("a." * 130)  # longer than 253 characters
@example("xn--zz.example")  # an A-label that does not decode
def test_normalize_dns_name_is_idempotent_and_yields_valid_names(name: str) -> None:
    try:
        normalized = normalize_dns_name(name)
    except InvalidIdentifier as error:
        _invalid_names(error, name)
        return
    assert normalize_dns_name(normalized) == normalized
    assert normalized == normalized.lower() and normalized.isascii()
    assert len(normalized) <= MAX_DNS_NAME_LENGTH and not normalized.endswith(".")
    check_dns_name(normalized)


@given(LDH_NAMES.map(".".join), st.sampled_from(["", ".", " ", "\t"]), st.booleans())
def test_case_a_trailing_root_dot_and_surrounding_space_do_not_change_a_name(
    name: str, suffix: str, upper: bool
) -> None:
    if name.rpartition(".")[2].isdigit():
        return  # an all-numeric last label is an IP address, not a name (tested above)
    spelled = (name.upper() if upper else name) + suffix
    assert normalize_dns_name(spelled) == normalize_dns_name(name) == name


@given(NAMES, st.booleans())
def test_check_dns_name_raises_only_invalid_identifier(name: str, allow_wildcard: bool) -> None:
    try:
        check_dns_name(name, allow_wildcard=allow_wildcard)
    except InvalidIdentifier as error:
        _invalid_names(error, name)
        return
    assert allow_wildcard or not name.startswith("*")


@given(NAMES | NAMES.map(lambda n: "**." + n))
def test_is_dns_pattern_agrees_with_check_dns_pattern(pattern: str) -> None:
    try:
        check_dns_pattern(pattern)
    except InvalidIdentifier:
        assert not is_dns_pattern(pattern)
        return
    assert is_dns_pattern(pattern)


@given(NAMES | st.sampled_from(["*.svc.x", "**.x", "*.", "**."]), NAMES)
def test_dns_pattern_matching_never_raises(pattern: str, name: str) -> None:
    assert isinstance(dns_pattern_matches(pattern, name), bool)


@given(LDH_NAMES, st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True))
def test_star_stands_for_exactly_one_label_and_double_star_for_one_or_more(
    labels: list[str], head: str
) -> None:
    base = ".".join(labels)
    assert dns_pattern_matches(f"*.{base}", f"{head}.{base}")
    assert not dns_pattern_matches(f"*.{base}", base)
    assert not dns_pattern_matches(f"*.{base}", f"{head}.{head}.{base}")
    assert dns_pattern_matches(f"**.{base}", f"{head}.{head}.{base}")
    assert not dns_pattern_matches(f"**.{base}", base)


@given(st.text(max_size=20), st.text(max_size=20), st.booleans())
def test_glob_matching_never_raises_and_a_glob_without_wildcards_is_equality(
    pattern: str, value: str, case_sensitive: bool
) -> None:
    matched = glob_matches(pattern, value, case_sensitive=case_sensitive)
    assert glob_matches("*", value) and glob_matches(pattern, pattern)
    if "*" not in pattern and "?" not in pattern:
        assert matched == (pattern == value if case_sensitive else pattern.lower() == value.lower())


_IP_LIKE = st.text(alphabet="0123456789abcdef:.%/ffff", max_size=40) | st.ip_addresses().map(str)


@given(_IP_LIKE | st.text(max_size=40))
def test_parse_ip_returns_an_address_or_raises_invalid_identifier(text: str) -> None:
    try:
        address = parse_ip(text)
    except InvalidIdentifier as error:
        _invalid_names(error, text)
        return
    assert address == ipaddress.ip_address(text)


@given(
    _IP_LIKE
    | st.tuples(st.ip_addresses(), st.integers(min_value=0, max_value=129)).map(lambda t: f"{t[0]}/{t[1]}")
    | st.text(max_size=40)
)
def test_parse_network_refuses_host_bits_and_raises_only_invalid_identifier(text: str) -> None:
    try:
        network = parse_network(text)
    except InvalidIdentifier as error:
        _invalid_names(error, text)
        return
    assert str(network.network_address) == str(ipaddress.ip_address(text.partition("/")[0]))


@given(st.ip_addresses(v=4), st.integers(min_value=0, max_value=32))
def test_an_ipv4_mapped_ipv6_address_is_in_the_networks_of_its_ipv4_address(
    address: ipaddress.IPv4Address, prefix: int
) -> None:
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    assert ip_in_networks(mapped, [network]) and ip_in_networks(address, [network])


@given(
    st.emails().map(str)
    | st.tuples(st.text(max_size=12), st.sampled_from(["@", "@@", ""]), NAMES).map("".join)
    | st.text(max_size=60)
)
def test_check_email_raises_only_invalid_identifier(text: str) -> None:
    try:
        check_email(text)
    except InvalidIdentifier as error:
        _invalid_names(error, text)
        return
    assert "@" in text


_URI_LIKE = st.tuples(
    st.sampled_from(["https", "spiffe", "urn", "1x", "", "a+b"]),
    st.sampled_from([":", "://", ":/", "//"]),
    st.text(alphabet="ab.-%2F[]:@?#/ 1é", max_size=30),
).map("".join)


@given(_URI_LIKE | st.text(max_size=60))
@example("https://[::1")  # an unclosed IPv6 literal: urlsplit raises ValueError
def test_check_uri_raises_only_invalid_identifier(text: str) -> None:
    try:
        check_uri(text)
    except InvalidIdentifier as error:
        _invalid_names(error, text)
        return
    assert ":" in text and text.isascii()
