"""Service and protocol error kinds. Every one is a ca_core.errors.CAError, so each edge (ACME problems,
REST problems, CLI lines) maps one tree."""

from __future__ import annotations

from ca_core.errors import CAError


class Malformed(CAError):
    """The request is syntactically wrong (bad JSON, missing field, bad value)."""


class Unauthorized(CAError):
    """The caller may not do this (wrong account, wrong token role, bad credentials)."""


class NotFound(CAError):
    """No such resource."""

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"no {kind} {key!r}")
        self.kind = kind
        self.key = key


class Conflict(CAError):
    """The request clashes with the stored state (duplicate name, resource in use, lost race)."""


class AlreadyRevoked(CAError):
    """The certificate was revoked before."""


class RateLimited(CAError):
    """Too many requests; retry after `retry_after` seconds."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class ConfigError(CAError):
    """A setting from flags, environment or TOML is invalid."""
