"""Protocols the services consume; adapters and test fakes implement them (ARCHITECTURE rule 10)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from ca_core.profile import ChallengeType

__all__ = [
    "ChallengeType",
    "Clock",
    "IdentifierType",
    "SystemClock",
    "ValidationOutcome",
    "ValidationTask",
    "Validator",
]


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


# --- the validation authority (VA) seam: services/acme/challenges.py calls it; acme_server/validation
# implements it over the network; tests/fakes.py has scripted doubles for unit tests of services.


class IdentifierType(StrEnum):
    DNS = "dns"
    IP = "ip"


@dataclass(frozen=True)
class ValidationTask:
    """One challenge to check. For a wildcard authorization `identifier_value` is the base domain
    (RFC 8555 §7.1.3: the identifier without the "*." prefix)."""

    challenge_type: ChallengeType
    identifier_type: IdentifierType
    identifier_value: str
    token: str
    key_authorization: str  # token "." base64url(JWK thumbprint), RFC 8555 §8.1
    # The requesting account's URL (RFC 8555 §7.3 Location): CAA accounturi (RFC 8657 §3),
    # dns-account-01 and dns-persist-01 bind to it. None: not known, and nothing bound to it matches.
    account_uri: str | None = None
    account_hash_prefix: str | None = None  # dns-persist-01 hashed account URIs (draft -02 §4.1)
    wildcard: bool = False  # the authorization is for "*." + identifier_value (RFC 8659 §4.3 issuewild)

    @property
    def thumbprint(self) -> str:
        """The account key's JWK thumbprint (RFC 7638), the key authorization's second half."""
        return self.key_authorization.rpartition(".")[2]


@dataclass(frozen=True)
class ValidationOutcome:
    """The result: valid, or the RFC 8555 §6.7 error type (without the urn prefix) and a detail that
    is safe to show to the client. `records` says what was contacted (Boulder's validationRecord)."""

    valid: bool
    error_type: str | None = None  # connection | dns | incorrectResponse | tls | unauthorized | caa | ...
    detail: str | None = None
    records: tuple[Mapping[str, Any], ...] = ()
    # A validation that may be relied on only until then (dns-persist-01 persistUntil): the
    # authorization must not outlive it.
    valid_until: datetime | None = None


class Validator(Protocol):
    async def validate(self, task: ValidationTask) -> ValidationOutcome: ...
