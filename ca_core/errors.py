"""The root of the project's error tree. `detail` is always safe to show to a client or operator."""

from __future__ import annotations

from dataclasses import dataclass


class CAError(Exception):
    """Root of every expected error; the web, API and CLI edges map it to a problem or one line."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadCSR(CAError):
    """The PKCS#10 request is unparsable, badly signed, or asks for something we cannot issue."""


class BadPublicKey(CAError):
    """A key is weak (RSA < 2048), of an unknown curve or type, or not allowed by a profile."""


class KeyNotAllowed(BadPublicKey):
    """A sound key of an algorithm the profile's allowedKeyAlgorithms does not list; the fields let an
    edge phrase it in its own terms (ACME: a badCSR naming what the profile allows)."""

    def __init__(self, algorithm: str, profile: str, allowed: tuple[str, ...]) -> None:
        super().__init__(f"key algorithm {algorithm} is not allowed by profile {profile!r}")
        self.algorithm = algorithm
        self.profile = profile
        self.allowed = allowed


class InvalidSetting(CAError):
    """A profile, policy or CA setting is not acceptable; `field` names it."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field


@dataclass(frozen=True)
class Violation:
    """One thing a request asked for that a policy does not allow."""

    field: str  # e.g. "commonName", "altNames.dns", "altNames.ip", "subject.O", "ttl"
    value: str
    reason: str

    def describe(self) -> str:
        return f"{self.field} {self.value!r}: {self.reason}"


class PolicyViolation(CAError):
    """A request breaks a policy; `violations` names every offending field and value."""

    def __init__(self, violations: list[Violation] | tuple[Violation, ...]) -> None:
        self.violations: tuple[Violation, ...] = tuple(violations)
        super().__init__("; ".join(v.describe() for v in self.violations))

    @property
    def field(self) -> str:
        return self.violations[0].field

    @property
    def value(self) -> str:
        return self.violations[0].value


class UnknownProfile(CAError):
    """No certificate profile of that name."""


class CADisabled(CAError):
    """The CA was disabled by an operator and signs nothing."""


class KeyProtectionError(CAError):
    """A protected private key cannot be used: a sealed one does not open (wrong key-encryption key or
    tampered data), or a token refused or garbled a signature (ca_core.tokens.TokenError)."""


class InvalidIdentifier(CAError):
    """A DNS name, IP address, e-mail or URI is not syntactically acceptable; `value` is the offender."""

    def __init__(self, value: str, detail: str) -> None:
        super().__init__(f"{value!r}: {detail}")
        self.value = value
