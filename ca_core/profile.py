"""Certificate profiles: what an issued certificate looks like (issuer, lifetimes, usages, extensions,
allowed keys, renewal). What may be *requested* is the job of ca_core.policy."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, Final, TypeVar

from ca_core.documents import read_boolean, read_integer, read_object, read_optional_string, read_string
from ca_core.durations import LONGEST, format_duration, parse_duration
from ca_core.errors import InvalidIdentifier, InvalidSetting
from ca_core.keys import KeyAlgorithm
from ca_core.names import check_dns_pattern


class IssuerType(StrEnum):
    SELF_SIGNED = "self-signed"
    CA = "ca"


class EnrollmentMethod(StrEnum):
    API = "api"
    ACME = "acme"


class ChallengeType(StrEnum):
    """ACME validation methods (RFC 8555 §8, RFC 8737, and the two DNS drafts a profile may offer)."""

    HTTP_01 = "http-01"
    DNS_01 = "dns-01"
    TLS_ALPN_01 = "tls-alpn-01"
    DNS_ACCOUNT_01 = "dns-account-01"  # draft-ietf-acme-dns-account-label
    DNS_PERSIST_01 = "dns-persist-01"  # draft-ietf-acme-dns-persist


# What a profile offers unless its challengeTypes says otherwise: the RFC 8555/8737 methods.
DEFAULT_CHALLENGE_TYPES: Final = (ChallengeType.HTTP_01, ChallengeType.DNS_01, ChallengeType.TLS_ALPN_01)


class KeyUsage(StrEnum):
    DIGITAL_SIGNATURE = "digital_signature"
    CONTENT_COMMITMENT = "content_commitment"
    KEY_ENCIPHERMENT = "key_encipherment"
    DATA_ENCIPHERMENT = "data_encipherment"
    KEY_AGREEMENT = "key_agreement"
    KEY_CERT_SIGN = "key_cert_sign"
    CRL_SIGN = "crl_sign"
    ENCIPHER_ONLY = "encipher_only"
    DECIPHER_ONLY = "decipher_only"


class ExtendedKeyUsage(StrEnum):
    SERVER_AUTH = "server_auth"
    CLIENT_AUTH = "client_auth"
    CODE_SIGNING = "code_signing"
    EMAIL_PROTECTION = "email_protection"
    TIME_STAMPING = "time_stamping"
    OCSP_SIGNING = "ocsp_signing"


DEFAULT_KEY_USAGES = frozenset({KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_ENCIPHERMENT})
DEFAULT_EXTENDED_KEY_USAGES = frozenset({ExtendedKeyUsage.SERVER_AUTH, ExtendedKeyUsage.CLIENT_AUTH})
# A ceiling well past any sensible certificate, so notBefore + maxTtl stays a representable date.
LONGEST_TTL: Final = LONGEST
# How long a validated ACME authorization is reused for new orders of the same account (Boulder: 30 days).
DEFAULT_AUTHORIZATION_REUSE: Final = timedelta(days=30)
# Boulder's CA backdates every certificate by an hour (its `backdate` setting) and step-ca by one
# minute (DefaultBackdate); an order may ask for as much as Boulder gives, for clients with a skewed clock.
DEFAULT_MAX_BACKDATE: Final = timedelta(hours=1)
# The renewal window (RFC 9773 suggestedWindow) in percent of the lifetime: the last third.
DEFAULT_RENEWAL_WINDOW: Final = (67, 100)
# "0", "0d", "0s" ...: a zero duration, which only authorizationReuse and maxBackdate accept.
_ZERO_DURATION: Final = re.compile(r"0+[ywdhms]?")
_NAME: Final = re.compile(r"[A-Za-z0-9_-]+")
_E = TypeVar("_E", bound=StrEnum)
# The document's keys, in to_document's order.
_DOCUMENT_KEYS: Final = (
    "description",
    "issuerType",
    "caId",
    "policyId",
    "defaultTtl",
    "maxTtl",
    "keyUsages",
    "extendedKeyUsages",
    "basicConstraints",
    "allowedKeyAlgorithms",
    "renewBeforeDays",
    "autoRenewByDefault",
    "enrollmentMethods",
    "allowWildcards",
    "requireEab",
    "preAuthorized",
    "authorizationReuse",
    "maxBackdate",
    "renewalWindow",
    "challengeTypes",
)
_SET_FIELDS: Final = ("key_usages", "extended_key_usages", "allowed_key_algorithms", "enrollment_methods")


@dataclass(frozen=True)
class Profile:
    """A validated profile. Build it once from config/API input (from_document); invalid values raise
    InvalidSetting naming the field as the document spells it (camelCase)."""

    name: str
    issuer_type: IssuerType = IssuerType.CA
    ca_id: str | None = None  # the issuing CA, required when issuer_type is CA
    policy_id: str | None = None  # the policy requests are checked against (None: no restriction)
    description: str = ""
    default_ttl: timedelta = timedelta(days=90)
    max_ttl: timedelta = timedelta(days=397)
    key_usages: frozenset[KeyUsage] = DEFAULT_KEY_USAGES
    extended_key_usages: frozenset[ExtendedKeyUsage] = DEFAULT_EXTENDED_KEY_USAGES
    basic_constraints_ca: bool = False
    path_length: int | None = None
    allowed_key_algorithms: frozenset[KeyAlgorithm] = frozenset(KeyAlgorithm)
    renew_before_days: int = 30
    auto_renew_by_default: bool = False
    enrollment_methods: frozenset[EnrollmentMethod] = field(
        default_factory=lambda: frozenset(EnrollmentMethod)
    )
    # ACME rules (acme_server.services): wildcard names in orders, EAB-only accounts, names granted to
    # EAB-bound accounts without a challenge (ca_core.names DNS patterns), how long a validated
    # authorization is reused (zero: never).
    allow_wildcards: bool = True
    require_eab: bool = False
    pre_authorized: tuple[str, ...] = ()
    authorization_reuse: timedelta = DEFAULT_AUTHORIZATION_REUSE
    # How far before "now" an ACME order's notBefore may lie (RFC 8555 §7.4 leaves the dates to the
    # server's policy): an order for a period in the past is refused, not issued with those dates.
    max_backdate: timedelta = DEFAULT_MAX_BACKDATE
    # ACME Renewal Information (RFC 9773): the suggested renewal window, as percentages of the
    # certificate's lifetime from notBefore; by default its last third.
    renewal_window: tuple[int, int] = DEFAULT_RENEWAL_WINDOW
    # The ACME challenge types authorizations of this profile offer (each identifier gets those of
    # them that can validate it); dns-account-01 and dns-persist-01 only when listed here.
    challenge_types: tuple[ChallengeType, ...] = DEFAULT_CHALLENGE_TYPES

    def __post_init__(self) -> None:
        # Lists or sets given by hand or via dataclasses.replace become frozensets: the value stays hashable.
        for attribute in _SET_FIELDS:
            object.__setattr__(self, attribute, frozenset(getattr(self, attribute)))
        object.__setattr__(self, "pre_authorized", tuple(self.pre_authorized))
        object.__setattr__(self, "renewal_window", tuple(self.renewal_window))
        object.__setattr__(self, "challenge_types", tuple(self.challenge_types))
        if not _NAME.fullmatch(self.name):
            raise InvalidSetting("name", "use letters, digits, '-' and '_' only")
        self._check_issuer()
        self._check_lifetimes()
        if self.path_length is not None and (self.path_length < 0 or not self.basic_constraints_ca):
            raise InvalidSetting(
                "basicConstraints.pathLength", "needs basicConstraints.ca and must not be negative"
            )
        if not self.allowed_key_algorithms:
            raise InvalidSetting("allowedKeyAlgorithms", "allow at least one key algorithm")
        if not self.enrollment_methods:
            raise InvalidSetting("enrollmentMethods", "allow at least one enrollment method")
        if not self.challenge_types:
            raise InvalidSetting("challengeTypes", "offer at least one challenge type")
        self._check_acme_rules()
        self._check_renewal_window()

    def _check_renewal_window(self) -> None:
        start, end = self.renewal_window
        for path, value in (("renewalWindow.start", start), ("renewalWindow.end", end)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
                raise InvalidSetting(path, "must be a whole percentage of the lifetime, 0 to 100")
        if start >= end:
            raise InvalidSetting("renewalWindow", "start must be earlier than end")

    def _check_issuer(self) -> None:
        if self.issuer_type is IssuerType.CA and not self.ca_id:
            raise InvalidSetting("caId", "a profile of issuer type 'ca' needs an issuing CA")
        if self.issuer_type is IssuerType.SELF_SIGNED and self.ca_id:
            raise InvalidSetting("caId", "a self-signed profile has no issuing CA")

    def _check_lifetimes(self) -> None:
        for path, ttl in (("defaultTtl", self.default_ttl), ("maxTtl", self.max_ttl)):
            if ttl <= timedelta(0):
                raise InvalidSetting(path, "must be longer than zero")
            if ttl % timedelta(seconds=1):
                raise InvalidSetting(path, "must be a whole number of seconds")
            if ttl > LONGEST_TTL:
                raise InvalidSetting(path, f"must not exceed {format_duration(LONGEST_TTL)}")
        if self.default_ttl > self.max_ttl:
            raise InvalidSetting(
                "defaultTtl", f"must not be longer than maxTtl ({format_duration(self.max_ttl)})"
            )
        if self.renew_before_days < 0:
            raise InvalidSetting("renewBeforeDays", "must not be negative")
        if timedelta(days=self.renew_before_days) >= self.max_ttl:
            raise InvalidSetting("renewBeforeDays", "must be shorter than maxTtl")

    def _check_acme_rules(self) -> None:
        for index, pattern in enumerate(self.pre_authorized):
            path = f"preAuthorized[{index}]"
            if not isinstance(pattern, str):
                raise InvalidSetting(path, "must be a DNS name pattern string")
            try:
                check_dns_pattern(pattern)
            except InvalidIdentifier as exc:
                raise InvalidSetting(path, exc.detail) from None
        # Zero is allowed here, unlike the TTLs: no reuse / no backdating.
        _check_window("authorizationReuse", self.authorization_reuse, "0 means no reuse")
        _check_window("maxBackdate", self.max_backdate, "0 means no backdating")

    def resolve_ttl(self, requested: timedelta | None) -> timedelta:
        """The lifetime to issue: `requested`, or defaultTtl when None. A lifetime longer than maxTtl is
        refused with InvalidSetting("ttl", ...), never silently shortened; so is one of zero or less."""
        ttl = self.default_ttl if requested is None else requested
        if ttl <= timedelta(0):
            raise InvalidSetting("ttl", "must be longer than zero")
        if ttl > self.max_ttl:
            raise InvalidSetting(
                "ttl",
                f"{format_duration(ttl)} exceeds the profile's maximum of {format_duration(self.max_ttl)}",
            )
        return ttl

    def to_document(self) -> dict[str, Any]:
        """The camelCase JSON shape the REST API and storage use; sets are listed in declaration order."""
        return {
            "description": self.description,
            "issuerType": self.issuer_type.value,
            "caId": self.ca_id,
            "policyId": self.policy_id,
            "defaultTtl": format_duration(self.default_ttl),
            "maxTtl": format_duration(self.max_ttl),
            "keyUsages": _in_order(KeyUsage, self.key_usages),
            "extendedKeyUsages": _in_order(ExtendedKeyUsage, self.extended_key_usages),
            "basicConstraints": {"ca": self.basic_constraints_ca, "pathLength": self.path_length},
            "allowedKeyAlgorithms": _in_order(KeyAlgorithm, self.allowed_key_algorithms),
            "renewBeforeDays": self.renew_before_days,
            "autoRenewByDefault": self.auto_renew_by_default,
            "enrollmentMethods": _in_order(EnrollmentMethod, self.enrollment_methods),
            "allowWildcards": self.allow_wildcards,
            "requireEab": self.require_eab,
            "preAuthorized": list(self.pre_authorized),
            "authorizationReuse": format_duration(self.authorization_reuse),
            "maxBackdate": format_duration(self.max_backdate),
            "renewalWindow": {"start": self.renewal_window[0], "end": self.renewal_window[1]},
            "challengeTypes": _in_order(ChallengeType, self.challenge_types),
        }

    @classmethod
    def from_document(cls, name: str, doc: Mapping[str, Any]) -> Profile:
        """Parse and validate `doc` (to_document's shape). Missing keys take the defaults; unknown keys, bad
        enum values and wrong types raise InvalidSetting naming the field, e.g. "keyUsages[2]"."""
        root = _object(doc, "", _DOCUMENT_KEYS)
        settings: dict[str, Any] = {
            _READERS[key][0]: _READERS[key][1](value, key) for key, value in root.items() if key in _READERS
        }
        if "basicConstraints" in root:
            settings.update(_basic_constraints(root["basicConstraints"]))
        if "renewalWindow" in root:
            settings["renewal_window"] = _renewal_window(root["renewalWindow"])
        return cls(name=name, **settings)


def _in_order(enum: type[_E], members: Iterable[_E]) -> list[str]:
    chosen = set(members)
    return [member.value for member in enum if member in chosen]


# --- reading documents --------------------------------------------------------------------------------


def _object(value: object, path: str, keys: tuple[str, ...]) -> Mapping[str, Any]:
    return read_object(value, path, keys, root="profile")


def _duration(value: object, path: str) -> timedelta:
    if not isinstance(value, str):
        raise InvalidSetting(path, "must be a duration like '90d', '12h' or '1y'")
    return parse_duration(value, field=path)


def _window(zero: str) -> Callable[[object, str], timedelta]:
    """A reader of a duration, or zero ("0", "0d": `zero`), which parse_duration alone refuses."""

    def read(value: object, path: str) -> timedelta:
        if isinstance(value, str) and _ZERO_DURATION.fullmatch(value.strip().lower()):
            return timedelta(0)
        if not isinstance(value, str):
            raise InvalidSetting(path, f"must be a duration like '30d' or '12h', or '0' for {zero}")
        return parse_duration(value, field=path)

    return read


def _check_window(path: str, window: timedelta, zero: str) -> None:
    """A window that may be zero: not negative, whole seconds, at most LONGEST_TTL."""
    if window < timedelta(0):
        raise InvalidSetting(path, f"must not be negative ({zero})")
    if window % timedelta(seconds=1):
        raise InvalidSetting(path, "must be a whole number of seconds")
    if window > LONGEST_TTL:
        raise InvalidSetting(path, f"must not exceed {format_duration(LONGEST_TTL)}")


def _patterns(value: object, path: str) -> tuple[str, ...]:
    """A list of DNS name patterns; each is checked by Profile itself (naming preAuthorized[i])."""
    if not isinstance(value, list | tuple):
        raise InvalidSetting(path, "must be a list of DNS name patterns")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise InvalidSetting(f"{path}[{index}]", "must be a DNS name pattern string")
    return tuple(value)


def _member(enum: type[_E], what: str) -> Callable[[object, str], _E]:
    def read(value: object, path: str) -> _E:
        for member in enum:
            if member.value == value:
                return member
        raise InvalidSetting(path, f"unknown {what} {value!r}; choose from {', '.join(enum)}")

    return read


def _members(enum: type[_E], what: str) -> Callable[[object, str], frozenset[_E]]:
    read_one = _member(enum, what)

    def read(value: object, path: str) -> frozenset[_E]:
        if not isinstance(value, list | tuple):
            raise InvalidSetting(path, f"must be a list of {what}s")
        return frozenset(read_one(item, f"{path}[{index}]") for index, item in enumerate(value))

    return read


def _challenge_types(value: object, path: str) -> tuple[ChallengeType, ...]:
    """A list of challenge type names, kept in the enum's order (the order challenges are offered)."""
    chosen = _members(ChallengeType, "challenge type")(value, path)
    return tuple(member for member in ChallengeType if member in chosen)


# document key -> (Profile attribute, reader); basicConstraints holds two attributes and is read apart
_READERS: Final[dict[str, tuple[str, Callable[[object, str], object]]]] = {
    "description": ("description", read_string),
    "issuerType": ("issuer_type", _member(IssuerType, "issuer type")),
    "caId": ("ca_id", read_optional_string),
    "policyId": ("policy_id", read_optional_string),
    "defaultTtl": ("default_ttl", _duration),
    "maxTtl": ("max_ttl", _duration),
    "keyUsages": ("key_usages", _members(KeyUsage, "key usage")),
    "extendedKeyUsages": ("extended_key_usages", _members(ExtendedKeyUsage, "extended key usage")),
    "allowedKeyAlgorithms": ("allowed_key_algorithms", _members(KeyAlgorithm, "key algorithm")),
    "renewBeforeDays": ("renew_before_days", read_integer),
    "autoRenewByDefault": ("auto_renew_by_default", read_boolean),
    "enrollmentMethods": ("enrollment_methods", _members(EnrollmentMethod, "enrollment method")),
    "allowWildcards": ("allow_wildcards", read_boolean),
    "requireEab": ("require_eab", read_boolean),
    "preAuthorized": ("pre_authorized", _patterns),
    "authorizationReuse": ("authorization_reuse", _window("no reuse")),
    "maxBackdate": ("max_backdate", _window("no backdating")),
    "challengeTypes": ("challenge_types", _challenge_types),
}


def _renewal_window(value: object) -> tuple[int, int]:
    window = _object(value, "renewalWindow", ("start", "end"))
    start = read_integer(window.get("start", DEFAULT_RENEWAL_WINDOW[0]), "renewalWindow.start")
    end = read_integer(window.get("end", DEFAULT_RENEWAL_WINDOW[1]), "renewalWindow.end")
    return start, end


def _basic_constraints(value: object) -> dict[str, Any]:
    constraints = _object(value, "basicConstraints", ("ca", "pathLength"))
    settings: dict[str, Any] = {}
    if "ca" in constraints:
        settings["basic_constraints_ca"] = read_boolean(constraints["ca"], "basicConstraints.ca")
    if constraints.get("pathLength") is not None:
        settings["path_length"] = read_integer(constraints["pathLength"], "basicConstraints.pathLength")
    return settings
