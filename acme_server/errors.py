"""Service and protocol error kinds. Every one is a ca_core.errors.CAError, so each edge (ACME problems,
REST problems, CLI lines) maps one tree."""

from __future__ import annotations

from ca_core.errors import CAError, InvalidSetting


class Malformed(CAError):
    """The request is syntactically wrong (bad JSON, missing field, bad value)."""


class Unauthorized(CAError):
    """The caller may not do this (wrong account, wrong token role, bad credentials)."""


class AccountNotValid(Unauthorized):
    """A request authorized by a deactivated (or revoked) account's key: 401 (RFC 8555 §7.3.6)."""


class Forbidden(Unauthorized):
    """The caller is known (a valid API token) but its role may not do this: HTTP 403 where an unknown
    caller gets 401."""


class NotFound(CAError):
    """No such resource."""

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"no {kind} {key!r}")
        self.kind = kind
        self.key = key


class Conflict(CAError):
    """The request clashes with the stored state (duplicate name, resource in use, lost race)."""


class KeyInUse(Conflict):
    """keyChange to a key another account holds (RFC 8555 §7.3.5: 409 with that account's Location)."""

    def __init__(self, detail: str, account_id: str) -> None:
        super().__init__(detail)
        self.account_id = account_id


class AlreadyRevoked(CAError):
    """The certificate was revoked before."""


class AlreadyRenewed(Conflict):
    """The certificate has a successor already (another renewal won)."""


class NotRenewable(Conflict):
    """The server cannot renew this certificate (issued over ACME, key not held, revoked ...)."""


class RateLimited(CAError):
    """Too many requests; retry after `retry_after` seconds."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class PayloadTooLarge(Malformed):
    """The request body is larger than the server reads (413, problem type malformed)."""


class Unavailable(CAError):
    """The server cannot serve the request now but will soon (the database is locked by another
    writer past the busy timeout): HTTP 503 with Retry-After (RFC 9110 §15.6.4)."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class ConfigError(CAError):
    """A setting from flags, environment or TOML is invalid."""


class HSMError(ConfigError):
    """A CA key in a PKCS#11 token cannot be used: the module, the token, the PIN or the key is wrong."""


class HSMNotConfigured(HSMError):
    """This server has no PKCS#11 module or PIN of its own (serve --pkcs11-module, --pkcs11-pin-file or
    ACME_PKCS11_PIN): a request naming a token key cannot be served until the operator configures one."""


class BadTokenURI(InvalidSetting, HSMError):
    """A `pkcs11:` URI, or what it names, is not usable as given: malformed, an attribute that may not
    come from a caller (module-path, pin-source), no such token or key. The caller's input, so an
    invalid field (`pkcs11Uri`) rather than a server fault; the detail reads as the CLI prints it."""

    def __init__(self, detail: str) -> None:
        CAError.__init__(self, detail)
        self.field = "pkcs11Uri"


# --- RFC 8555 §6.7 protocol errors raised by the WFE and the ACME services


class BadNonce(CAError):
    """The JWS nonce is missing, unknown, expired or used before (§6.5)."""


class BadSignatureAlgorithm(CAError):
    """The JWS `alg` is not one we accept; `algorithms` lists those we do (§6.2)."""

    def __init__(self, detail: str, algorithms: tuple[str, ...]) -> None:
        super().__init__(detail)
        self.algorithms = algorithms


class AccountDoesNotExist(CAError):
    """No account for this key or kid (§7.3.1 onlyReturnExisting, §6.2 kid lookups)."""


class ExternalAccountRequired(CAError):
    """This directory needs an externalAccountBinding on newAccount (§7.3.4)."""


class InvalidContact(CAError):
    """A contact URL is not acceptable (§7.3)."""


class UnsupportedContact(CAError):
    """A contact URL scheme we do not support (§7.3)."""


class RejectedIdentifier(CAError):
    """One or more identifiers are refused; each gets a subproblem (§6.7.1)."""

    def __init__(self, detail: str, subproblems: tuple[Subproblem, ...]) -> None:
        super().__init__(detail)
        self.subproblems = subproblems


class UnsupportedIdentifier(RejectedIdentifier):
    """An identifier type we do not issue for (§6.7: unsupportedIdentifier), with one subproblem per
    such identifier."""

    def __init__(self, detail: str, subproblems: tuple[Subproblem, ...] = ()) -> None:
        super().__init__(detail, subproblems)


class OrderNotReady(CAError):
    """Finalize on an order that is not `ready` (§7.4)."""


class BadRevocationReason(CAError):
    """A revocation reason code we do not accept (§7.6)."""


class UnsupportedMediaType(CAError):
    """A POST whose Content-Type is not application/jose+json (§6.2: 415)."""


class MethodNotAllowed(CAError):
    """GET on a resource that is POST-as-GET only (§6.3: 405)."""


class AlreadyReplaced(CAError):
    """An order names a certificate another order already replaces (RFC 9773 §5)."""


class Subproblem:
    """One identifier's failure inside a compound problem (§6.7.1)."""

    __slots__ = ("detail", "identifier", "kind")

    def __init__(self, kind: str, detail: str, identifier: dict[str, str]) -> None:
        self.kind = kind  # RFC 8555 error type without the urn prefix
        self.detail = detail
        self.identifier = identifier
