"""Certificate policies: which names, subject attributes and lifetimes may be *requested*. A check
collects every violation, each naming the field and value (ARCHITECTURE rule 8); profiles say the rest.

How patterns match (every comparison ignores case):

- ``altNames.dns``: DNS patterns (`ca_core.names`: ``name``, ``*.name``, ``**.name``). An allowed pattern
  must cover the requested name; a requested wildcard ``*.svc.x`` is therefore allowed by ``*.svc.x`` or
  ``**.x`` but not by ``a.svc.x``. A denied pattern refuses every name it *overlaps*: ``*.svc.x`` is
  denied by a denied ``a.svc.x`` too, since the certificate would be valid for that name.
- ``commonName``: a pattern that is a valid DNS pattern (``db.x``, ``*.svc.x``, ``**.x``) matches as
  above; any other pattern (``Web *``, ``*``, ``build-??``) is a glob over the whole common name.
- ``altNames.ip``: CIDR networks (a bare address is a /32 or /128).
- ``altNames.email``, ``altNames.uri`` and ``subject.allowed`` values: globs (``*`` any run, ``?`` one
  character).

An empty ``allowed`` list allows everything; ``denied`` always wins over ``allowed``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

from ca_core.documents import read_object, read_string, read_strings
from ca_core.durations import format_duration, parse_duration
from ca_core.errors import InvalidIdentifier, InvalidSetting, PolicyViolation, Violation
from ca_core.names import (
    check_dns_pattern,
    dns_pattern_matches,
    glob_matches,
    ip_in_networks,
    is_dns_pattern,
    is_wildcard,
    parse_ip,
    parse_network,
)
from ca_core.request import CertificateRequest, IPAddress

# The attributes `subject.allowed` may restrict, in X.500 order as Subject.attributes() lists them; the
# common name has a rule of its own (commonName), but may be required.
SUBJECT_POLICY_ATTRIBUTES: Final = ("C", "ST", "L", "O", "OU")
REQUIRABLE_ATTRIBUTES: Final = ("CN", *SUBJECT_POLICY_ATTRIBUTES)
_NAME: Final = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class NameRule:
    """Patterns one kind of name is checked against: empty `allowed` allows all; `denied` always wins."""

    allowed: tuple[str, ...] = ()
    denied: tuple[str, ...] = ()


class SubjectPatterns(Mapping[str, tuple[str, ...]]):
    """An immutable, hashable attribute -> allowed globs mapping (so Policy stays a hashable value)."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Iterable[str]] | None = None) -> None:
        self._items: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in (items or {}).items()}

    def __getitem__(self, key: str) -> tuple[str, ...]:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __repr__(self) -> str:
        return f"SubjectPatterns({self._items!r})"


# --- how each kind of name is validated and matched -------------------------------------------------


def _check_glob(pattern: str) -> None:
    if not pattern:
        raise InvalidIdentifier(pattern, "empty pattern")


def _check_network(pattern: str) -> None:
    parse_network(pattern)


def _dns_overlaps(pattern: str, name: str) -> bool:
    # A requested wildcard is as good as every name it covers, so it overlaps a pattern it matches.
    return dns_pattern_matches(pattern, name) or (is_wildcard(name) and dns_pattern_matches(name, pattern))


def _cn_covers(pattern: str, value: str) -> bool:
    return dns_pattern_matches(pattern, value) if is_dns_pattern(pattern) else glob_matches(pattern, value)


def _cn_overlaps(pattern: str, value: str) -> bool:
    return _dns_overlaps(pattern, value) if is_dns_pattern(pattern) else glob_matches(pattern, value)


def _ip_matches(pattern: str, value: str) -> bool:
    return ip_in_networks(parse_ip(value), [parse_network(pattern)])


@dataclass(frozen=True)
class _Kind:
    path: str  # the document path and violation field, e.g. "altNames.dns"
    attribute: str  # the Policy field holding its NameRule
    check: Callable[[str], None]  # raises InvalidIdentifier for a bad pattern
    covers: Callable[[str, str], bool]  # (allowed pattern, value)
    overlaps: Callable[[str, str], bool]  # (denied pattern, value)


_COMMON_NAME: Final = _Kind("commonName", "common_name", _check_glob, _cn_covers, _cn_overlaps)
_DNS: Final = _Kind("altNames.dns", "dns", check_dns_pattern, dns_pattern_matches, _dns_overlaps)
_IP: Final = _Kind("altNames.ip", "ip", _check_network, _ip_matches, _ip_matches)
_EMAIL: Final = _Kind("altNames.email", "email", _check_glob, glob_matches, glob_matches)
_URI: Final = _Kind("altNames.uri", "uri", _check_glob, glob_matches, glob_matches)
_KINDS: Final = (_COMMON_NAME, _DNS, _IP, _EMAIL, _URI)
_ALT_NAMES: Final = {"dns": _DNS, "ip": _IP, "email": _EMAIL, "uri": _URI}


@dataclass(frozen=True)
class Policy:
    """A validated policy; build it once (from_document for API/storage input). InvalidSetting names the
    offending field in the document's camelCase, e.g. "altNames.dns.allowed[1]"."""

    name: str
    description: str = ""
    common_name: NameRule = NameRule()
    dns: NameRule = NameRule()
    ip: NameRule = NameRule()  # CIDR networks
    email: NameRule = NameRule()
    uri: NameRule = NameRule()
    # attribute short name (C, ST, L, O, OU) -> allowed globs; an absent attribute may take any value
    subject_allowed: Mapping[str, tuple[str, ...]] = field(default_factory=SubjectPatterns)
    subject_required: frozenset[str] = frozenset()
    max_ttl: timedelta | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "subject_allowed", SubjectPatterns(self.subject_allowed))
        object.__setattr__(self, "subject_required", frozenset(self.subject_required))
        if not _NAME.fullmatch(self.name):
            raise InvalidSetting("name", "use letters, digits, '-' and '_' only")
        for kind in _KINDS:
            _check_rule(kind, _rule_of(self, kind))
        self._check_subject()
        if self.max_ttl is not None and self.max_ttl <= timedelta(0):
            raise InvalidSetting("maxTtl", "must be longer than zero")
        if self.max_ttl is not None and self.max_ttl % timedelta(seconds=1):
            raise InvalidSetting("maxTtl", "must be a whole number of seconds")

    def _check_subject(self) -> None:
        for attribute, patterns in self.subject_allowed.items():
            if attribute not in SUBJECT_POLICY_ATTRIBUTES:
                raise InvalidSetting(
                    "subject.allowed",
                    f"unknown attribute {attribute!r}; use {', '.join(SUBJECT_POLICY_ATTRIBUTES)}"
                    " (the common name has its own rule, commonName)",
                )
            for index, pattern in enumerate(patterns):
                if not pattern:
                    raise InvalidSetting(f"subject.allowed.{attribute}[{index}]", "empty pattern")
        unknown = sorted(self.subject_required - set(REQUIRABLE_ATTRIBUTES))
        if unknown:
            raise InvalidSetting(
                "subject.required",
                f"unknown attribute {unknown[0]!r}; use {', '.join(REQUIRABLE_ATTRIBUTES)}",
            )

    def to_document(self) -> dict[str, Any]:
        """The camelCase JSON shape the REST API and storage use."""
        return {
            "description": self.description,
            "commonName": _rule_document(self.common_name),
            "altNames": {key: _rule_document(_rule_of(self, kind)) for key, kind in _ALT_NAMES.items()},
            "subject": {
                "allowed": {
                    attribute: list(patterns) for attribute, patterns in self.subject_allowed.items()
                },
                "required": [a for a in REQUIRABLE_ATTRIBUTES if a in self.subject_required],
            },
            "maxTtl": None if self.max_ttl is None else format_duration(self.max_ttl),
        }

    @classmethod
    def from_document(cls, name: str, doc: Mapping[str, Any]) -> Policy:
        """Parse and validate `doc` (to_document's shape; missing keys take the defaults). Unknown keys and
        wrong types raise InvalidSetting naming the field path."""
        root = _object(doc, "", ("description", "commonName", "altNames", "subject", "maxTtl"))
        alt_names = _object(root.get("altNames", {}), "altNames", tuple(_ALT_NAMES))
        subject = _object(root.get("subject", {}), "subject", ("allowed", "required"))
        return cls(
            name=name,
            description=read_string(root.get("description", ""), "description"),
            common_name=_rule_from(root.get("commonName", {}), "commonName"),
            subject_allowed=_subject_allowed(subject.get("allowed", {})),
            subject_required=frozenset(read_strings(subject.get("required", []), "subject.required")),
            dns=_rule_from(alt_names.get("dns", {}), "altNames.dns"),
            ip=_rule_from(alt_names.get("ip", {}), "altNames.ip"),
            email=_rule_from(alt_names.get("email", {}), "altNames.email"),
            uri=_rule_from(alt_names.get("uri", {}), "altNames.uri"),
            max_ttl=_max_ttl(root.get("maxTtl")),
        )


def _rule_of(policy: Policy, kind: _Kind) -> NameRule:
    rule: NameRule = getattr(policy, kind.attribute)
    return rule


def _check_rule(kind: _Kind, rule: NameRule) -> None:
    for list_name, patterns in (("allowed", rule.allowed), ("denied", rule.denied)):
        for index, pattern in enumerate(patterns):
            try:
                kind.check(pattern)
            except InvalidIdentifier as exc:
                raise InvalidSetting(f"{kind.path}.{list_name}[{index}]", exc.detail) from None


# --- reading documents --------------------------------------------------------------------------------


def _object(value: object, path: str, keys: tuple[str, ...]) -> Mapping[str, Any]:
    return read_object(value, path, keys, root="policy")


def _rule_from(value: object, path: str) -> NameRule:
    rule = _object(value, path, ("allowed", "denied"))
    return NameRule(
        allowed=read_strings(rule.get("allowed", []), f"{path}.allowed"),
        denied=read_strings(rule.get("denied", []), f"{path}.denied"),
    )


def _rule_document(rule: NameRule) -> dict[str, list[str]]:
    return {"allowed": list(rule.allowed), "denied": list(rule.denied)}


def _subject_allowed(value: object) -> SubjectPatterns:
    if not isinstance(value, Mapping):
        raise InvalidSetting("subject.allowed", "must be an object of attribute -> list of patterns")
    return SubjectPatterns(
        {
            str(attribute): read_strings(patterns, f"subject.allowed.{attribute}")
            for attribute, patterns in value.items()
        }
    )


def _max_ttl(value: object) -> timedelta | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidSetting("maxTtl", "must be a duration like '90d', or null for no maximum")
    return parse_duration(value, field="maxTtl")


# --- checking requests --------------------------------------------------------------------------------


def _reason(policy: Policy, kind: _Kind, value: str) -> str | None:
    """Why `value` breaks the policy's rule for `kind`, or None when it does not."""
    rule = _rule_of(policy, kind)
    if any(kind.overlaps(pattern, value) for pattern in rule.denied):
        return f"denied by policy {policy.name!r}"
    if rule.allowed and not any(kind.covers(pattern, value) for pattern in rule.allowed):
        return f"not allowed by policy {policy.name!r} (allowed: {', '.join(rule.allowed)})"
    return None


def _violations(policy: Policy, kind: _Kind, values: Iterable[str]) -> list[Violation]:
    found = []
    for value in values:
        reason = _reason(policy, kind, value)
        if reason is not None:
            found.append(Violation(kind.path, value, reason))
    return found


def identifier_violations(
    policy: Policy, dns_names: Sequence[str], ip_addresses: Sequence[IPAddress]
) -> list[Violation]:
    """One Violation per DNS name or IP address the policy refuses, for ACME newOrder's
    rejectedIdentifier subproblems (ARCHITECTURE rule 5). Names are expected normalised."""
    return [
        *_violations(policy, _DNS, dns_names),
        *_violations(policy, _IP, (str(ip) for ip in ip_addresses)),
    ]


def _subject_violations(policy: Policy, request: CertificateRequest) -> list[Violation]:
    found = []
    attributes = request.subject.attributes()
    if "CN" in policy.subject_required and "CN" not in attributes:
        found.append(Violation("commonName", "", f"required by policy {policy.name!r}"))
    for attribute in SUBJECT_POLICY_ATTRIBUTES:
        value = attributes.get(attribute)
        allowed = policy.subject_allowed.get(attribute)
        if value is None:
            if attribute in policy.subject_required:
                found.append(Violation(f"subject.{attribute}", "", f"required by policy {policy.name!r}"))
        elif allowed is not None and not any(glob_matches(p, value) for p in allowed):
            reason = f"not allowed by policy {policy.name!r} (allowed: {', '.join(allowed)})"
            found.append(Violation(f"subject.{attribute}", value, reason))
    return found


def request_violations(policy: Policy, request: CertificateRequest, *, ttl: timedelta) -> list[Violation]:
    """Every way `request` (with lifetime `ttl`) breaks `policy`: common name, each SAN, subject
    attributes, then the lifetime; empty when it complies."""
    common_name = request.subject.common_name
    sans = request.sans
    found = [
        *_violations(policy, _COMMON_NAME, [common_name] if common_name else []),
        *_violations(policy, _DNS, sans.dns),
        *_violations(policy, _IP, (str(ip) for ip in sans.ip)),
        *_violations(policy, _EMAIL, sans.email),
        *_violations(policy, _URI, sans.uri),
        *_subject_violations(policy, request),
    ]
    if policy.max_ttl is not None and ttl > policy.max_ttl:
        reason = f"exceeds the policy's maximum of {format_duration(policy.max_ttl)}"
        found.append(Violation("ttl", format_duration(ttl), reason))
    return found


def check_request(policy: Policy, request: CertificateRequest, *, ttl: timedelta) -> None:
    """Raise one PolicyViolation listing every violation of `policy` by `request` (see request_violations)."""
    violations = request_violations(policy, request, ttl=ttl)
    if violations:
        raise PolicyViolation(violations)
