"""Every status a stored row can be in, once, as StrEnums: storage builds its CHECK constraints from them
and converts the columns at its edge (storage/tables.py `status_column`), services and edges compare
and render the members. A leaf module (it imports nothing), so every layer may use it.

A member equals its string ("valid" == AccountStatus.VALID), so JSON and SQL parameters are unchanged;
the member order is the order of the CHECK constraint's list."""

from __future__ import annotations

from enum import StrEnum


class AccountStatus(StrEnum):
    """RFC 8555 §7.1.6."""

    VALID = "valid"
    DEACTIVATED = "deactivated"  # by the client (§7.3.6) or by disabling its EAB key
    REVOKED = "revoked"  # by the server


class OrderStatus(StrEnum):
    """RFC 8555 §7.1.6: pending -> ready (every authorization valid) -> processing (finalize) -> valid;
    invalid from any unfinished state."""

    PENDING = "pending"
    READY = "ready"
    PROCESSING = "processing"
    VALID = "valid"
    INVALID = "invalid"


class AuthorizationStatus(StrEnum):
    """RFC 8555 §7.1.6. 'expired' is stored by nobody today: an authorization past its expiry is shown
    expired (services/acme/authorizations.py `effective_status`)."""

    PENDING = "pending"
    VALID = "valid"
    INVALID = "invalid"
    DEACTIVATED = "deactivated"
    EXPIRED = "expired"
    REVOKED = "revoked"


class ChallengeStatus(StrEnum):
    """RFC 8555 §7.1.6: pending -> processing (the client responded, queued for the worker) -> valid or
    invalid."""

    PENDING = "pending"
    PROCESSING = "processing"
    VALID = "valid"
    INVALID = "invalid"


class CertificateStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    SUPERSEDED = "superseded"  # renewed: a successor took over (still valid until it expires)


class CAStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"
    PENDING = "pending"  # an external CA whose CSR awaits the certificate an offline root signs


class RequestStatus(StrEnum):
    """A certificate request of the REST API."""

    PENDING = "pending"
    ISSUED = "issued"
    FAILED = "failed"


class RotationState(StrEnum):
    """A CA rotation (services/renewal/rotation.py makes every change)."""

    STARTED = "started"  # the row exists; NEW cross-signed if asked
    PROFILES_MOVED = "profiles_moved"  # every profile that issued from OLD issues from NEW
    RENEWING = "renewing"  # every active certificate of OLD has its renewal moment
    COMPLETED = "completed"  # OLD disabled (its CRL still published until its last certificate expires)
    CANCELLED = "cancelled"  # tracking ended; profiles stay where they are

    @property
    def active(self) -> bool:
        return self in ACTIVE_ROTATION_STATES


ACTIVE_ROTATION_STATES = (RotationState.STARTED, RotationState.PROFILES_MOVED, RotationState.RENEWING)


class SyncStatus(StrEnum):
    """The outcome of a sync's last push."""

    NEVER = "never"
    OK = "ok"
    FAILED = "failed"


class RenewalOutcome(StrEnum):
    """One attempt of the auto-renewal scheduler."""

    RENEWED = "renewed"
    FAILED = "failed"
