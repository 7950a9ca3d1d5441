"""Protocols the services consume; adapters and test fakes implement them (ARCHITECTURE rule 10)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


# --- the validation authority (VA) seam: services/challenges.py calls it; acme_server/validation
# implements it over the network; tests/fakes.py has scripted doubles for unit tests of services.


class ChallengeType(StrEnum):
    HTTP_01 = "http-01"
    DNS_01 = "dns-01"
    TLS_ALPN_01 = "tls-alpn-01"


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


@dataclass(frozen=True)
class ValidationOutcome:
    """The result: valid, or the RFC 8555 §6.7 error type (without the urn prefix) and a detail that
    is safe to show to the client. `records` says what was contacted (Boulder's validationRecord)."""

    valid: bool
    error_type: str | None = None  # connection | dns | incorrectResponse | tls | unauthorized | caa | ...
    detail: str | None = None
    records: tuple[Mapping[str, Any], ...] = ()


class Validator(Protocol):
    async def validate(self, task: ValidationTask) -> ValidationOutcome: ...
