"""Identifier syntax and matching: DNS names (normalisation, IDNA, wildcards), IP addresses and networks,
e-mail and URI syntax, and the two pattern languages policies are written in.

DNS patterns (`dns_pattern_matches`, case-insensitive, on normalised names):

- ``db.example.internal`` (no ``*``) matches exactly that name.
- ``*.svc.example.internal`` matches exactly one label in place of ``*``: ``a.svc.example.internal`` and the
  wildcard name ``*.svc.example.internal`` itself, but neither ``svc.example.internal`` nor
  ``a.b.svc.example.internal``.
- ``**.example.internal`` matches one or more labels in place of ``**`` (any depth), wildcard names under
  it included (``*.svc.example.internal``), but not ``example.internal`` itself.

Globs (`glob_matches`, for e-mail addresses, URIs, common names and subject attribute values): ``*`` is any
run of characters (``/`` and ``.`` included), ``?`` is exactly one character; nothing else is special.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

from ca_core.errors import InvalidIdentifier

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# RFC 1035 §2.3.4 / RFC 1123 §2.1: 255 octets on the wire is 253 characters of text without the root dot.
MAX_DNS_NAME_LENGTH: Final = 253
MAX_LABEL_LENGTH: Final = 63
_LDH: Final = re.compile(r"[a-z0-9-]+", re.IGNORECASE)
# RFC 5322 §3.2.3 atext; dot-atom local parts only (quoted local parts are refused as implausible).
_ATOM: Final = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+")
# RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
# RFC 3986 §2: unreserved, reserved and percent-encoded characters; nothing else (no spaces, no non-ASCII).
_URI_CHARACTERS: Final = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_BAD_PERCENT: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
_MAX_LOCAL_PART: Final = 64  # RFC 5321 §4.5.3.1.1


def normalize_dns_name(name: str) -> str:
    """`name` stripped, lower-cased, without one trailing (root) dot, non-ASCII labels as A-labels;
    then syntax-checked. InvalidIdentifier names `name` as given, the way a client will recognise it."""
    cleaned = name.strip().lower().removesuffix(".")
    if not cleaned.isascii():
        cleaned = ".".join(_to_a_label(name, label) for label in cleaned.split("."))
    problem = _dns_name_problem(cleaned, allow_wildcard=True)
    if problem is not None:
        raise InvalidIdentifier(name, problem)
    return cleaned


def _to_a_label(original: str, label: str) -> str:
    if label.isascii():
        return label
    try:
        # The built-in codec implements IDNA 2003 (RFC 3490): nameprep, then punycode.
        return label.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidIdentifier(original, f"label {label!r} cannot be converted to an A-label") from None


def check_dns_name(name: str, *, allow_wildcard: bool = True) -> None:
    """Raise InvalidIdentifier unless `name` is a syntactically valid host name (LDH labels, RFC 1123),
    optionally with a wildcard as the whole leftmost label (`*.example.internal`)."""
    problem = _dns_name_problem(name, allow_wildcard=allow_wildcard)
    if problem is not None:
        raise InvalidIdentifier(name, problem)


def _dns_name_problem(name: str, *, allow_wildcard: bool) -> str | None:
    if not name:
        return "empty name"
    if len(name) > MAX_DNS_NAME_LENGTH:
        return f"longer than {MAX_DNS_NAME_LENGTH} characters"
    labels = name.split(".")
    if labels[0] == "*":
        if not allow_wildcard:
            return "wildcard names are not allowed here"
        if len(labels) == 1:
            return "a wildcard needs at least one label after '*.'"
        labels = labels[1:]
    for label in labels:
        problem = _label_problem(label)
        if problem is not None:
            return problem
    if labels[-1].isdigit():
        return "the last label is all-numeric (an IP address is not a DNS name)"
    return None


def _label_problem(label: str) -> str | None:
    if not label:
        return "empty label"
    if "*" in label:
        return "a wildcard '*' may only be the whole leftmost label"
    if len(label) > MAX_LABEL_LENGTH:
        return f"label {label!r} is longer than {MAX_LABEL_LENGTH} characters"
    if not label.isascii() or not _LDH.fullmatch(label):
        return f"label {label!r} may hold only letters, digits and hyphens"
    if label.startswith("-") or label.endswith("-"):
        return f"label {label!r} begins or ends with a hyphen"
    if label[:4].lower() == "xn--" and not _is_a_label(label):
        return f"label {label!r} is not a valid A-label (punycode)"
    return None


def _is_a_label(label: str) -> bool:
    # RFC 5890 §2.3.2.1: an A-label must decode to a U-label; a broken one would show as garbage.
    try:
        label.encode("ascii").decode("idna")
    except UnicodeError:
        return False
    return True


def is_wildcard(name: str) -> bool:
    """True for a wildcard DNS name such as `*.example.internal`."""
    return name.startswith("*.")


def check_dns_pattern(pattern: str) -> None:
    """Raise InvalidIdentifier unless `pattern` is a DNS pattern (see the module docstring)."""
    if pattern.startswith("**."):
        check_dns_name(pattern[3:], allow_wildcard=False)
    else:
        check_dns_name(pattern)


def is_dns_pattern(pattern: str) -> bool:
    """True when `pattern` is a valid DNS pattern: a name, `*.name` or `**.name`."""
    try:
        check_dns_pattern(pattern)
    except InvalidIdentifier:
        return False
    return True


def dns_pattern_matches(pattern: str, name: str) -> bool:
    """True when `name` is one of the names `pattern` stands for (module docstring), ignoring case."""
    pattern = pattern.lower()
    name = name.lower()
    if pattern.startswith("**."):
        suffix = pattern[2:]  # keeps the dot: ".example.internal"
        prefix = name.removesuffix(suffix)
        return len(prefix) < len(name) and all(prefix.split("."))
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == name


def parse_ip(text: str) -> IPAddress:
    """An IPv4 or IPv6 address; zone ids (`fe80::1%eth0`), CIDR suffixes and anything else are refused."""
    if "%" in text:
        raise InvalidIdentifier(text, "an IP address with a zone id cannot be certified")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise InvalidIdentifier(text, "not an IPv4 or IPv6 address") from None


def parse_network(text: str) -> IPNetwork:
    """A CIDR network such as `10.0.0.0/8`; a bare address is a /32 (IPv4) or /128 (IPv6) network.
    Host bits set (`10.0.0.1/8`) are refused rather than silently dropped."""
    if "%" in text:
        raise InvalidIdentifier(text, "a network with a zone id is not supported")
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidIdentifier(text, "not a CIDR network like 10.0.0.0/8 or fd00::/8") from None
    if ipaddress.ip_address(text.partition("/")[0]) != network.network_address:
        raise InvalidIdentifier(text, f"has host bits set; did you mean {network}?")
    return network


def ip_in_networks(ip: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    """True when `ip` lies in one of `networks`. An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) also
    counts as its IPv4 address, so it can neither slip past a denied IPv4 network nor miss an allowed one."""
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        candidates.append(ip.ipv4_mapped)
    return any(address in network for network in networks for address in candidates)


@functools.lru_cache(maxsize=1024)
def _glob_regex(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL if case_sensitive else re.DOTALL | re.IGNORECASE)


def glob_matches(pattern: str, value: str, *, case_sensitive: bool = False) -> bool:
    """True when the whole of `value` matches `pattern`: `*` any run of characters, `?` one character."""
    return _glob_regex(pattern, case_sensitive).fullmatch(value) is not None


def check_email(text: str) -> None:
    """Raise InvalidIdentifier unless `text` is a plausible RFC 5322 addr-spec (dot-atom local part,
    valid host name as domain), as an rfc822Name SAN holds (RFC 5280 §4.2.1.6)."""
    local, at, domain = text.rpartition("@")
    if not at or not local:
        raise InvalidIdentifier(text, "not an e-mail address like name@example.com")
    if len(local) > _MAX_LOCAL_PART:
        raise InvalidIdentifier(text, f"the local part is longer than {_MAX_LOCAL_PART} characters")
    if not all(_ATOM.fullmatch(atom) for atom in local.split(".")):
        raise InvalidIdentifier(text, f"the local part {local!r} is not a dot-atom (RFC 5322 §3.2.3)")
    problem = _dns_name_problem(domain, allow_wildcard=False)
    if problem is not None:
        raise InvalidIdentifier(text, f"the domain {domain!r} is invalid: {problem}")


def check_uri(text: str) -> None:
    """Raise InvalidIdentifier unless `text` is an absolute URI: a scheme and a scheme-specific part,
    ASCII without spaces, and a host when it has an authority (RFC 5280 §4.2.1.6, RFC 3986)."""
    if not _URI_CHARACTERS.fullmatch(text) or _BAD_PERCENT.search(text):
        raise InvalidIdentifier(text, "a URI holds only the characters RFC 3986 §2 allows, percent-encoded")
    scheme, colon, rest = text.partition(":")
    if not colon or not _SCHEME.fullmatch(scheme):
        raise InvalidIdentifier(text, "not an absolute URI: it needs a scheme such as 'https:' or 'spiffe:'")
    if not rest:
        raise InvalidIdentifier(text, "the URI has nothing after its scheme")
    if rest.startswith("//"):
        _check_uri_host(text)


def _check_uri_host(text: str) -> None:
    try:
        host = urlsplit(text).hostname
    except ValueError:
        raise InvalidIdentifier(text, "the URI's authority is malformed") from None
    if not host:
        raise InvalidIdentifier(text, "a URI with an authority ('//') needs a host (RFC 5280 §4.2.1.6)")
