import ipaddress

import pytest

from ca_core.errors import InvalidIdentifier
from ca_core.names import (
    check_dns_name,
    check_dns_pattern,
    check_email,
    check_uri,
    dns_pattern_matches,
    glob_matches,
    ip_in_networks,
    is_dns_pattern,
    is_wildcard,
    normalize_dns_name,
    parse_ip,
    parse_network,
)

LABEL_63 = "a" * 63
NAME_253 = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])  # 63+1+63+1+63+1+61 = 253


# --- normalize_dns_name -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("db.example.internal", "db.example.internal"),
        ("DB.Example.INTERNAL", "db.example.internal"),
        ("db.example.internal.", "db.example.internal"),
        ("  db.example.internal \n", "db.example.internal"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.example", "xn--bcher-kva.example"),
        ("*.bücher.example", "*.xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("*.Svc.Example.Internal.", "*.svc.example.internal"),
        ("db", "db"),
    ],
)
def test_normalize_lowercases_drops_one_root_dot_and_uses_a_labels(name: str, expected: str) -> None:
    assert normalize_dns_name(name) == expected


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        ("a.example.internal..", "empty label"),
        ("bad..name", "empty label"),
        ("", "empty name"),
        (".", "empty name"),
        ("a" * 64 + "ü.example", "cannot be converted to an A-label"),
        ("under_score.example", "may hold only letters, digits and hyphens"),
    ],
)
def test_normalize_refuses_what_check_refuses_naming_the_name_as_given(name: str, detail: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        normalize_dns_name(name)
    assert caught.value.value == name
    assert detail in caught.value.detail


# --- check_dns_name ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "db",
        "db.example.internal",
        "a-b.example.internal",
        "0.example.internal",
        "123abc.example",
        "example.a1",
        "*.example.internal",
        "*.internal",
        LABEL_63 + ".example",
        NAME_253,
        "DB.Example.Internal",
        "xn--bcher-kva.example",
    ],
)
def test_valid_names_pass(name: str) -> None:
    check_dns_name(name)


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        ("", "empty name"),
        ("bad..name", "empty label"),
        (".leading.dot", "empty label"),
        ("trailing.dot.", "empty label"),
        (NAME_253 + "e", "longer than 253 characters"),
        ("a" * 64 + ".example", f"label {'a' * 64!r} is longer than 63 characters"),
        ("-db.example", "label '-db' begins or ends with a hyphen"),
        ("db-.example", "label 'db-' begins or ends with a hyphen"),
        ("under_score.example", "label 'under_score' may hold only letters, digits and hyphens"),
        ("sp ace.example", "may hold only letters, digits and hyphens"),
        ("bücher.example", "may hold only letters, digits and hyphens"),
        ("\u212a.example", "may hold only letters, digits and hyphens"),  # KELVIN SIGN folds to 'k'
        ("10.0.0.1", "the last label is all-numeric (an IP address is not a DNS name)"),
        ("host.123", "the last label is all-numeric"),
        ("*", "a wildcard needs at least one label after '*.'"),
        ("a.*.b", "a wildcard '*' may only be the whole leftmost label"),
        ("*a.b", "a wildcard '*' may only be the whole leftmost label"),
        ("a*.b", "a wildcard '*' may only be the whole leftmost label"),
        ("*.*.b", "a wildcard '*' may only be the whole leftmost label"),
        ("**.b", "a wildcard '*' may only be the whole leftmost label"),
        ("xn--a.example", "label 'xn--a' is not a valid A-label (punycode)"),
    ],
)
def test_invalid_names_are_refused_with_the_reason(name: str, detail: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        check_dns_name(name)
    assert caught.value.value == name
    assert detail in caught.value.detail


def test_empty_label_detail_is_exact() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        check_dns_name("bad..name")
    assert caught.value.detail == "'bad..name': empty label"


def test_wildcard_can_be_refused_where_not_allowed() -> None:
    with pytest.raises(InvalidIdentifier, match="wildcard names are not allowed here"):
        check_dns_name("*.example.internal", allow_wildcard=False)
    check_dns_name("www.example.internal", allow_wildcard=False)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("*.example.internal", True), ("example.internal", False), ("a*.example", False), ("*", False)],
)
def test_is_wildcard(name: str, expected: bool) -> None:
    assert is_wildcard(name) is expected


# --- IP addresses and networks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.1", ipaddress.IPv4Address("10.0.0.1")),
        ("::1", ipaddress.IPv6Address("::1")),
        ("2001:DB8::1", ipaddress.IPv6Address("2001:db8::1")),
    ],
)
def test_parse_ip_accepts_plain_addresses(text: str, expected: object) -> None:
    assert parse_ip(text) == expected


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("fe80::1%eth0", "an IP address with a zone id cannot be certified"),
        ("10.0.0.0/8", "not an IPv4 or IPv6 address"),
        ("10.0.0.256", "not an IPv4 or IPv6 address"),
        ("010.0.0.1", "not an IPv4 or IPv6 address"),
        ("db.example", "not an IPv4 or IPv6 address"),
        ("", "not an IPv4 or IPv6 address"),
    ],
)
def test_parse_ip_refuses_anything_else(text: str, detail: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        parse_ip(text)
    assert caught.value.detail == f"{text!r}: {detail}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.0/8", ipaddress.IPv4Network("10.0.0.0/8")),
        ("10.1.2.3", ipaddress.IPv4Network("10.1.2.3/32")),
        ("fd00::/8", ipaddress.IPv6Network("fd00::/8")),
        ("::1", ipaddress.IPv6Network("::1/128")),
        ("0.0.0.0/0", ipaddress.IPv4Network("0.0.0.0/0")),
    ],
)
def test_parse_network_takes_cidr_or_a_bare_address(text: str, expected: object) -> None:
    assert parse_network(text) == expected


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("10.0.0.0/33", "not a CIDR network like 10.0.0.0/8 or fd00::/8"),
        ("10.0.0.1/8", "has host bits set; did you mean 10.0.0.0/8?"),
        ("example.internal", "not a CIDR network like 10.0.0.0/8 or fd00::/8"),
        ("fe80::%eth0/64", "a network with a zone id is not supported"),
        ("", "not a CIDR network like 10.0.0.0/8 or fd00::/8"),
    ],
)
def test_parse_network_refuses_bad_cidrs(text: str, detail: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        parse_network(text)
    assert caught.value.detail == f"{text!r}: {detail}"


@pytest.mark.parametrize(
    ("ip", "networks", "expected"),
    [
        ("10.1.2.3", ["10.0.0.0/8"], True),
        ("11.1.2.3", ["10.0.0.0/8"], False),
        ("11.1.2.3", ["10.0.0.0/8", "11.0.0.0/8"], True),
        ("10.1.2.3", [], False),
        ("fd00::1", ["fd00::/8"], True),
        ("fd00::1", ["10.0.0.0/8"], False),
        ("10.1.2.3", ["::/0"], False),
        ("::ffff:10.1.2.3", ["10.0.0.0/8"], True),  # IPv4-mapped counts as its IPv4 address
        ("::ffff:11.1.2.3", ["10.0.0.0/8"], False),
    ],
)
def test_ip_in_networks(ip: str, networks: list[str], expected: bool) -> None:
    assert ip_in_networks(parse_ip(ip), [parse_network(n) for n in networks]) is expected


# --- DNS patterns ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        # an exact name matches itself only, ignoring case
        ("db.example.internal", "db.example.internal", True),
        ("db.example.internal", "DB.Example.Internal", True),
        ("DB.example.internal", "db.example.internal", True),
        ("db.example.internal", "a.db.example.internal", False),
        ("db.example.internal", "*.example.internal", False),
        # *. matches exactly one label
        ("*.svc.example.internal", "a.svc.example.internal", True),
        ("*.svc.example.internal", "*.svc.example.internal", True),
        ("*.svc.example.internal", "A.SVC.example.internal", True),
        ("*.svc.example.internal", "svc.example.internal", False),
        ("*.svc.example.internal", "a.b.svc.example.internal", False),
        ("*.svc.example.internal", "a.svc.example.internal.evil", False),
        ("*.svc.example.internal", "asvc.example.internal", False),
        # **. matches one or more labels
        ("**.example.internal", "a.example.internal", True),
        ("**.example.internal", "a.b.c.example.internal", True),
        ("**.example.internal", "*.example.internal", True),
        ("**.example.internal", "*.svc.example.internal", True),
        ("**.example.internal", "example.internal", False),
        ("**.example.internal", "badexample.internal", False),
        ("**.example.internal", "a.example.internal.evil", False),
        ("**.example.internal", ".example.internal", False),
    ],
)
def test_dns_pattern_matches(pattern: str, name: str, expected: bool) -> None:
    assert dns_pattern_matches(pattern, name) is expected


@pytest.mark.parametrize(
    ("pattern", "valid"),
    [
        ("db.example.internal", True),
        ("*.svc.example.internal", True),
        ("**.example.internal", True),
        ("db", True),
        ("**.*.example", False),
        ("**", False),
        ("*", False),
        ("a.**.b", False),
        ("bad..name", False),
        ("Web *", False),
    ],
)
def test_dns_pattern_syntax(pattern: str, valid: bool) -> None:
    assert is_dns_pattern(pattern) is valid
    if not valid:
        with pytest.raises(InvalidIdentifier):
            check_dns_pattern(pattern)


# --- globs -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("*@example.com", "alice@example.com", True),
        ("*@example.com", "ALICE@EXAMPLE.COM", True),
        ("*@example.com", "alice@example.com.evil", False),
        ("*@example.com", "alice@sub.example.com", False),
        ("spiffe://cluster.local/ns/*", "spiffe://cluster.local/ns/prod/sa/web", True),
        ("spiffe://cluster.local/ns/*", "spiffe://cluster.local/nsx", False),
        ("build-??", "build-42", True),
        ("build-??", "build-4", False),
        ("build-??", "build-420", False),
        ("Acme*", "Acme Corp", True),
        ("*", "", True),
        ("", "", True),
        ("", "x", False),
        ("a.b", "axb", False),  # '.' is not special
        ("[ab]", "a", False),  # nor are brackets
        ("[ab]", "[ab]", True),
        ("a+", "aa", False),
        ("line*", "line\nbreak", True),
    ],
)
def test_glob_matches(pattern: str, value: str, expected: bool) -> None:
    assert glob_matches(pattern, value) is expected


def test_glob_can_be_case_sensitive() -> None:
    assert glob_matches("Acme*", "acme corp")
    assert not glob_matches("Acme*", "acme corp", case_sensitive=True)
    assert glob_matches("Acme*", "Acme corp", case_sensitive=True)


# --- e-mail and URI syntax ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "alice@example.com",
        "a.b+tag@mail.example.internal",
        "x@db",
        "o'brien@example.com",
        "ALICE@EXAMPLE.COM",
    ],
)
def test_plausible_email_addresses_pass(text: str) -> None:
    check_email(text)


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("alice", "not an e-mail address like name@example.com"),
        ("@example.com", "not an e-mail address like name@example.com"),
        ("alice@", "the domain '' is invalid: empty name"),
        ("alice@bad..name", "the domain 'bad..name' is invalid: empty label"),
        ("alice@*.example.com", "the domain '*.example.com' is invalid: wildcard names are not allowed here"),
        ("alice@10.0.0.1", "the domain '10.0.0.1' is invalid: the last label is all-numeric"),
        (".alice@example.com", "the local part '.alice' is not a dot-atom"),
        ("al..ice@example.com", "is not a dot-atom"),
        ("al ice@example.com", "is not a dot-atom"),
        ("a@b@example.com", "is not a dot-atom"),
        ('"quoted"@example.com', "is not a dot-atom"),
        ("a" * 65 + "@example.com", "the local part is longer than 64 characters"),
    ],
)
def test_implausible_email_addresses_are_refused(text: str, detail: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        check_email(text)
    assert caught.value.value == text
    assert detail in caught.value.detail


@pytest.mark.parametrize(
    "text",
    [
        "spiffe://cluster.local/ns/prod/sa/web",
        "https://example.internal/path?q=1#frag",
        "https://[::1]:8443/",
        "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
        "mailto:alice@example.com",
        "https://example.internal/a%20b",
    ],
)
def test_absolute_uris_pass(text: str) -> None:
    check_uri(text)


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("/relative/path", "not an absolute URI"),
        ("example.internal", "not an absolute URI"),
        ("://example.internal", "not an absolute URI"),
        ("1http://example.internal", "not an absolute URI"),
        ("https:", "the URI has nothing after its scheme"),
        ("https://", "needs a host"),
        ("https:///path", "needs a host"),
        ("https://[::1/", "the URI's authority is malformed"),
        ("https://example.internal/a b", "only the characters RFC 3986 §2 allows"),
        ("https://bücher.example/", "only the characters RFC 3986 §2 allows"),
        ("https://example.internal/%zz", "only the characters RFC 3986 §2 allows"),
        ("", "only the characters RFC 3986 §2 allows"),
    ],
)
def test_relative_or_malformed_uris_are_refused(text: str, detail: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        check_uri(text)
    assert caught.value.value == text
    assert detail in caught.value.detail
