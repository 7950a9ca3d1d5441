"""Certificate profiles: what an issued certificate looks like (issuer, lifetimes, usages, extensions,
allowed keys, renewal). What may be *requested* is the job of ca_core.policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from ca_core.errors import InvalidSetting
from ca_core.keys import KeyAlgorithm


class IssuerType(StrEnum):
    SELF_SIGNED = "self-signed"
    CA = "ca"


class EnrollmentMethod(StrEnum):
    API = "api"
    ACME = "acme"


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


@dataclass(frozen=True)
class Profile:
    """A validated profile. Build it once from config/API input; invalid values raise InvalidSetting."""

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

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            raise InvalidSetting("name", "use letters, digits, '-' and '_' only")
        if self.issuer_type is IssuerType.CA and not self.ca_id:
            raise InvalidSetting("caId", "a profile of issuer type 'ca' needs an issuing CA")
        if self.issuer_type is IssuerType.SELF_SIGNED and self.ca_id:
            raise InvalidSetting("caId", "a self-signed profile has no issuing CA")
        if self.default_ttl <= timedelta(0):
            raise InvalidSetting("defaultTtl", "must be longer than zero")
        if self.max_ttl < self.default_ttl:
            raise InvalidSetting("maxTtl", "must not be shorter than defaultTtl")
        if self.path_length is not None and (self.path_length < 0 or not self.basic_constraints_ca):
            raise InvalidSetting("pathLength", "needs basicConstraintsCa and must not be negative")
        if not self.allowed_key_algorithms:
            raise InvalidSetting("allowedKeyAlgorithms", "allow at least one key algorithm")
        if not self.enrollment_methods:
            raise InvalidSetting("enrollmentMethods", "allow at least one enrollment method")
        if not 0 <= self.renew_before_days:
            raise InvalidSetting("renewBeforeDays", "must not be negative")
        if timedelta(days=self.renew_before_days) >= self.max_ttl:
            raise InvalidSetting("renewBeforeDays", "must be shorter than maxTtl")

    def resolve_ttl(self, requested: timedelta | None) -> timedelta:
        """The lifetime to issue: the request's (if any) capped by nothing — a longer one is refused."""
        ttl = requested or self.default_ttl
        if ttl <= timedelta(0):
            raise InvalidSetting("ttl", "must be longer than zero")
        if ttl > self.max_ttl:
            raise InvalidSetting("ttl", f"{ttl.days} days exceeds the profile's maximum of {self.max_ttl.days}")
        return ttl
