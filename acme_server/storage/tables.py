"""The schema: every table as SQLAlchemy Core, in one MetaData with a naming convention. The migrations
in migrations/versions must produce exactly this (tests/storage/test_migrations.py compares them)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)

from acme_server.statuses import (
    AccountStatus,
    AuthorizationStatus,
    CAStatus,
    CertificateStatus,
    ChallengeStatus,
    OrderStatus,
    RenewalOutcome,
    RequestStatus,
    RotationState,
    SyncStatus,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always aware UTC in Python. SQLite keeps no zone and returns naive values,
    and its text comparison is only right when every value is UTC: convert on the way in, tag on the
    way out. A naive datetime is a bug in the caller and is refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given to storage; pass an aware UTC time")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _id(name: str = "id") -> Column[str]:
    """A text UUID primary key; storage generates it (str(uuid.uuid4()))."""
    return Column(name, String(36), primary_key=True)


def _created_at() -> Column[datetime]:
    return Column("created_at", UTCDateTime(), nullable=False)


def _one_of(column: str, *values: str) -> CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=column)


class UnknownStatus(ValueError):
    """A status column holds, or is given, a value its enum does not have: a hand edit of the
    database, a row of a newer release, or a bug. Names the table, column and value."""


class _Members(dict[object, object]):
    """value -> what to hand on, for one status column; a miss raises UnknownStatus. A subclass of
    dict only for `__missing__`: a hit is a plain dict lookup (the hot path converts every row)."""

    __slots__ = ("_enum", "_verb", "_where")

    def __init__(self, pairs: dict[object, object], enum: type[StrEnum], where: str, verb: str) -> None:
        super().__init__(pairs)
        self._enum, self._where, self._verb = enum, where, verb

    def __missing__(self, value: object) -> object:
        allowed = ", ".join(self._enum)
        raise UnknownStatus(
            f"{self._where} {self._verb} {value!r}, not one of the {self._enum.__name__} values: {allowed}"
        )


class StatusType(TypeDecorator[str]):
    """A status column: TEXT in the database, a member of `enum` in Python. Reads convert through a
    {value: member} dict (no more than a dict lookup per row, on SQLAlchemy's path and prepared.py's
    alike) and refuse an unknown value naming `where` (table.column); writes, comparisons included,
    accept members and their values only and hand the driver plain strings."""

    impl = Text
    cache_ok = True

    def __init__(self, enum: type[StrEnum], where: str) -> None:
        super().__init__()
        self.enum = enum
        self.where = where

    def _lookup(self, member: bool, verb: str) -> Callable[[Any], Any]:
        pairs: dict[object, object] = {m.value: (m if member else m.value) for m in self.enum}
        pairs[None] = None  # NULL: the outer side of a join (a challenge-less authorization)
        return _Members(pairs, self.enum, self.where, verb).__getitem__

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any]:
        check = self._lookup(False, "given")
        inner = self.impl_instance.bind_processor(dialect)
        return check if inner is None else (lambda value: inner(check(value)))

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any]:
        convert = self._lookup(True, "holds")
        inner = self.impl_instance.result_processor(dialect, coltype)
        return convert if inner is None else (lambda value: convert(inner(value)))


def _status(
    table: str, enum: type[StrEnum], name: str = "status", **options: Any
) -> tuple[Column[str], CheckConstraint]:
    """A NOT NULL status column converted to and from `enum`, and its CHECK constraint listing the
    enum's values: the schema cannot drift from the code (splat it into the Table: `*_status(...)`)."""
    column: Column[str] = Column(name, StatusType(enum, f"{table}.{name}"), nullable=False, **options)
    return column, _one_of(name, *enum)


ENROLLMENTS = ("api", "acme", "cli")

# --- CAs, policies, profiles -------------------------------------------------------------------

cas = Table(
    "cas",
    metadata,
    _id(),
    Column("name", Text, nullable=False, unique=True),
    Column("kind", Text, nullable=False),
    Column("parent_id", String(36), ForeignKey("cas.id"), nullable=True),
    # 'pending': an external CA whose CSR awaits the certificate an offline root signs.
    *_status("cas", CAStatus),
    Column("certificate_pem", Text, nullable=True),
    Column("chain_pem", Text, nullable=False, server_default=""),
    Column("csr_pem", Text, nullable=True),
    # The CA key sealed under the KEK; empty when the key lives in a PKCS#11 token, named by key_uri
    # (an RFC 7512 URI, no key material, no PIN).
    Column("sealed_key", LargeBinary, nullable=False),
    Column("key_uri", Text, nullable=True),
    Column("key_algorithm", Text, nullable=False),
    Column("crl_url", Text, nullable=True),
    Column("ocsp_url", Text, nullable=True),
    Column("issuer_url", Text, nullable=True),
    Column("max_path_length", Integer, nullable=True),
    Column("not_before", UTCDateTime(), nullable=True),
    Column("not_after", UTCDateTime(), nullable=True),
    # The last CRL number handed out (RFC 5280 §5.2.3: monotonically increasing per CA).
    Column("crl_number", BigInteger, nullable=False, server_default=text("0")),
    _created_at(),
    # Base URL of the CA's CRLs and OCSP written into its certificates (a CA setting, not a flag of
    # whichever process signs); NULL only for a row an older release inserted.
    Column("status_url", Text, nullable=True),
    # CRL partitions new certificates are spread over, and how many are published: the most the CA
    # ever had, since certificates keep naming the partition they were issued in.
    Column("crl_partitions", Integer, nullable=False, server_default=text("1")),
    Column("crl_partitions_published", Integer, nullable=False, server_default=text("1")),
    _one_of("kind", "root", "intermediate", "external"),
)

policies = Table(
    "policies",
    metadata,
    _id(),
    Column("name", Text, nullable=False, unique=True),
    Column("document", JSON, nullable=False),
    _created_at(),
    Column("updated_at", UTCDateTime(), nullable=False),
)

profiles = Table(
    "profiles",
    metadata,
    _id(),
    Column("name", Text, nullable=False, unique=True),
    Column("ca_id", String(36), ForeignKey("cas.id"), nullable=True),
    Column("policy_id", String(36), ForeignKey("policies.id"), nullable=True),
    Column("document", JSON, nullable=False),
    _created_at(),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# --- certificates and their requests -----------------------------------------------------------

certificate_requests = Table(
    "certificate_requests",
    metadata,
    _id(),
    Column("profile_id", String(36), ForeignKey("profiles.id"), nullable=False),
    Column("method", Text, nullable=False),
    *_status("certificate_requests", RequestStatus),
    Column("csr_pem", Text, nullable=True),
    Column("parameters", JSON, nullable=False),
    # No FK: certificates.request_id points the other way, and a cycle would need ALTER on SQLite.
    Column("certificate_id", String(36), nullable=True),
    Column("error", Text, nullable=True),
    _created_at(),
    _one_of("method", "managed", "csr"),
    Index(None, "status"),
    Index(None, "profile_id"),
    Index(None, "created_at"),
)

certificate_request_metadata = Table(
    "certificate_request_metadata",
    metadata,
    Column(
        "request_id", String(36), ForeignKey("certificate_requests.id", ondelete="CASCADE"), nullable=False
    ),
    Column("key", Text, nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("request_id", "key"),
    Index(None, "key", "value", "request_id"),
)

certificates = Table(
    "certificates",
    metadata,
    _id(),
    Column("ca_id", String(36), ForeignKey("cas.id"), nullable=True),  # NULL: self-signed
    Column("profile_id", String(36), ForeignKey("profiles.id"), nullable=True),
    Column("serial", Text, nullable=False),  # lowercase hex
    Column("common_name", Text, nullable=False),
    Column("friendly_name", Text, nullable=False),
    *_status("certificates", CertificateStatus),
    Column("not_before", UTCDateTime(), nullable=False),
    Column("not_after", UTCDateTime(), nullable=False),
    Column("certificate_pem", Text, nullable=False),
    Column("chain_pem", Text, nullable=False),
    Column("sealed_key", LargeBinary, nullable=True),  # only keys the server generated
    Column("key_algorithm", Text, nullable=False),
    Column("san_text", Text, nullable=False),  # space-joined SANs, for search
    Column("fingerprint_sha256", Text, nullable=False),
    Column("enrollment", Text, nullable=False),
    Column("request_id", String(36), ForeignKey("certificate_requests.id"), nullable=True),
    Column("account_id", String(36), ForeignKey("acme_accounts.id"), nullable=True),
    # No FK: acme_orders.certificate_id points the other way.
    Column("order_id", String(36), nullable=True),
    Column("renewed_from_id", String(36), ForeignKey("certificates.id", ondelete="SET NULL"), nullable=True),
    Column("renewed_by_id", String(36), ForeignKey("certificates.id", ondelete="SET NULL"), nullable=True),
    Column("auto_renew", Boolean, nullable=False, server_default=false()),
    _created_at(),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("revocation_reason", Text, nullable=True),
    # The CRL partition the certificate's distribution point names (RFC 5280 §5.2.5); 0 unpartitioned.
    Column("crl_partition", Integer, nullable=False, server_default=text("0")),
    UniqueConstraint("ca_id", "serial"),
    _one_of("enrollment", *ENROLLMENTS),
    Index(None, "status"),
    Index(None, "profile_id"),
    Index(None, "ca_id", "not_after"),  # a CA's certificates; when its last one expires (CRLs)
    Index(None, "not_after"),
    Index(None, "common_name"),
    # The inventory lists newest first, paged, ties broken by id: with id in the index a page (and the
    # rows an offset skips) is read from the index alone, never by sorting whole rows.
    Index(None, "created_at", "id"),
    Index(None, "account_id"),
)

certificate_metadata = Table(
    "certificate_metadata",
    metadata,
    Column("certificate_id", String(36), ForeignKey("certificates.id", ondelete="CASCADE"), nullable=False),
    Column("key", Text, nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("certificate_id", "key"),
    # certificate_id last makes the index covering for "certificates with key=value".
    Index(None, "key", "value", "certificate_id"),
)

revocations = Table(
    "revocations",
    metadata,
    Column(
        "certificate_id",
        String(36),
        ForeignKey("certificates.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("ca_id", String(36), ForeignKey("cas.id"), nullable=True),
    Column("serial", Text, nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=False),
    Column("reason", Text, nullable=False),  # RFC 5280 reason name, e.g. 'KEY_COMPROMISE'
    Column("source", Text, nullable=False),
    Column("crl_partition", Integer, nullable=False, server_default=text("0")),  # the certificate's
    _one_of("source", *ENROLLMENTS),
    Index(None, "ca_id", "crl_partition"),  # one partition's entries without reading the others'
)

crls = Table(
    "crls",
    metadata,
    _id(),
    Column("ca_id", String(36), ForeignKey("cas.id"), nullable=False),
    Column("number", BigInteger, nullable=False),
    Column("this_update", UTCDateTime(), nullable=False),
    Column("next_update", UTCDateTime(), nullable=False),
    Column("der", LargeBinary, nullable=False),
    _created_at(),
    # Numbers come from the CA's one counter, so they grow within each partition too.
    Column("partition", Integer, nullable=False, server_default=text("0")),
    UniqueConstraint("ca_id", "number"),
)

# A CA certificate signed by another issuer for the same key and subject (a cross-signature): each
# gives the CA's certificates an alternate chain (RFC 8555 §7.4.2 Link rel="alternate").
ca_cross_certificates = Table(
    "ca_cross_certificates",
    metadata,
    _id(),
    Column("ca_id", String(36), ForeignKey("cas.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("issuer_id", String(36), ForeignKey("cas.id"), nullable=False),
    Column("certificate_pem", Text, nullable=False),
    _created_at(),
    UniqueConstraint("ca_id", "issuer_id"),
)

# A CA rotation (services/renewal/rotation.py): OLD's profiles moved to NEW, OLD's active certificates
# asked to renew, progress counted from the certificates themselves. `active_old_ca_id` is OLD's id while the
# rotation is under way and NULL once it ended, so its unique key allows one rotation at a time per CA.
ca_rotations = Table(
    "ca_rotations",
    metadata,
    _id(),
    Column("old_ca_id", String(36), ForeignKey("cas.id"), nullable=False, index=True),
    Column("new_ca_id", String(36), ForeignKey("cas.id"), nullable=False),
    Column("active_old_ca_id", String(36), nullable=True, unique=True),
    *_status("ca_rotations", RotationState, "state"),
    Column("spread_seconds", BigInteger, nullable=False),
    Column("grace_seconds", BigInteger, nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
)

# --- operations --------------------------------------------------------------------------------

api_tokens = Table(
    "api_tokens",
    metadata,
    _id(),
    Column("name", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("token_hash", Text, nullable=False, unique=True),
    _created_at(),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("last_used_at", UTCDateTime(), nullable=True),
    _one_of("role", "admin", "operator", "viewer"),
)

# One row per signed-in UI session (ui/session.py): the cookie holds the session's random secret,
# the row its SHA-256, so sign-out (deleting the row) ends every copy of the cookie at once and a
# read of the table signs no one in. Revoking the token deletes its sessions.
ui_sessions = Table(
    "ui_sessions",
    metadata,
    Column("id_hash", Text, primary_key=True),
    Column(
        "token_id", String(36), ForeignKey("api_tokens.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    _created_at(),
    Column("expires_at", UTCDateTime(), nullable=False, index=True),
)

# The audit log (services/platform/audit.py): one row per state-changing admin action, written in the same
# transaction as the change, so a change without its row cannot commit. Rows are only ever inserted.
audit_events = Table(
    "audit_events",
    metadata,
    _id(),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor_kind", Text, nullable=False),  # token | ui | shell | account | system
    Column("actor_name", Text, nullable=False),
    Column("actor_id", Text, nullable=True),  # the token's or account's id; the OS user has none
    Column("action", Text, nullable=False),  # e.g. ca.create, token.revoke, certificate.export_key
    Column("target_kind", Text, nullable=False),
    Column("target_id", Text, nullable=True),
    Column("detail", JSON, nullable=False),
    Column("request_id", Text, nullable=True),  # the X-Request-ID of the HTTP request, as in the logs
    Index(None, "at", "id"),  # newest first, paged
)

# One row, bumped in the same transaction as every change to a CA, policy, profile or cross
# certificate: a process caches that configuration and reloads it when the number moved.
config_generation = Table(
    "config_generation",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("value", BigInteger, nullable=False),
)

leases = Table(
    "leases",
    metadata,
    Column("name", Text, primary_key=True),
    Column("holder", Text, nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

# --- server-driven renewal and syncs -----------------------------------------------------------

# One row per certificate the renewal scheduler has looked at: the claim that lets exactly one worker
# or replica renew it (holder until claimed_until), and the back-off after failures.
renewal_states = Table(
    "renewal_states",
    metadata,
    Column(
        "certificate_id",
        String(36),
        ForeignKey("certificates.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("holder", Text, nullable=True),
    Column("claimed_until", UTCDateTime(), nullable=True),
    Column("failures", Integer, nullable=False, server_default=text("0")),  # in a row, since the last success
    Column("next_attempt_at", UTCDateTime(), nullable=True),  # back-off: not before this
    Column("last_error", Text, nullable=True),
)

# Every renewal attempt of the scheduler, successful or not.
renewal_attempts = Table(
    "renewal_attempts",
    metadata,
    _id(),
    Column("certificate_id", String(36), ForeignKey("certificates.id", ondelete="CASCADE"), nullable=False),
    Column("attempted_at", UTCDateTime(), nullable=False),
    *_status("renewal_attempts", RenewalOutcome, "outcome"),
    Column("error", Text, nullable=True),
    Column("successor_id", String(36), ForeignKey("certificates.id", ondelete="SET NULL"), nullable=True),
    Column("next_attempt_at", UTCDateTime(), nullable=True),  # after a failure: when it is retried
    Column("holder", Text, nullable=False),  # the worker that made the attempt
    Index(None, "certificate_id", "attempted_at"),
)

# A sync pushes one certificate (following its renewals) or a profile's newest certificate to a
# destination; secrets (credentials) are sealed with the KEK like private keys.
syncs = Table(
    "syncs",
    metadata,
    _id(),
    Column("name", Text, nullable=False, unique=True),
    Column("certificate_id", String(36), ForeignKey("certificates.id", ondelete="CASCADE"), nullable=True),
    Column("profile_id", String(36), ForeignKey("profiles.id", ondelete="CASCADE"), nullable=True),
    Column("destination_type", Text, nullable=False),
    Column("destination_config", JSON, nullable=False),
    Column("sealed_secrets", LargeBinary, nullable=True),
    # What the destination remembers between pushes (e.g. the ACM certificate ARN to re-import into).
    Column("destination_state", JSON, nullable=False),
    *_status("syncs", SyncStatus, "last_status", server_default=SyncStatus.NEVER.value),
    Column("last_error", Text, nullable=True),
    Column("last_run_at", UTCDateTime(), nullable=True),
    Column("last_certificate_id", String(36), nullable=True),  # no FK: history, may outlive the row
    _created_at(),
    Column("updated_at", UTCDateTime(), nullable=False),
    # A push is queued (services/delivery/syncs.py run_push_worker): set in the transaction that stored the
    # certificate, cleared when a push that started after it finished.
    Column("push_due_at", UTCDateTime(), nullable=True),
    CheckConstraint("(certificate_id IS NULL) <> (profile_id IS NULL)", name="target"),
    Index(None, "certificate_id"),
    Index(None, "profile_id"),
    Index(None, "push_due_at"),
)

# --- ACME (RFC 8555) ---------------------------------------------------------------------------

acme_accounts = Table(
    "acme_accounts",
    metadata,
    _id(),
    Column("jwk_thumbprint", Text, nullable=False, unique=True),  # RFC 7638, base64url
    Column("jwk", JSON, nullable=False),
    *_status("acme_accounts", AccountStatus),
    Column("contacts", JSON, nullable=False),
    Column("terms_agreed", Boolean, nullable=False, server_default=false()),
    # The EAB key that bound this account (RFC 8555 §7.3.4). No FK: eab_keys points here.
    Column("eab_kid", Text, nullable=True),
    _created_at(),
    Index(None, "eab_kid"),  # the bindings of one key (eab show)
)

eab_keys = Table(
    "eab_keys",
    metadata,
    Column("kid", Text, primary_key=True),
    Column("profile_id", String(36), ForeignKey("profiles.id", ondelete="CASCADE"), nullable=True),
    Column("sealed_hmac", LargeBinary, nullable=False),
    _created_at(),
    # How many accounts the key may bind (NULL: any number) and how many it bound. The bindings are
    # the accounts whose eab_kid is this kid; newAccount counts one with a conditional increment
    # (storage/eab.py bind), so two replicas racing for the last binding cannot both win.
    Column("max_accounts", Integer, nullable=True),
    Column("account_count", Integer, nullable=False, server_default="0"),
    Column("disabled_at", UTCDateTime(), nullable=True),  # set: binds no more accounts
    CheckConstraint("max_accounts IS NULL OR max_accounts >= 1", name="max_accounts"),
    CheckConstraint("max_accounts IS NULL OR account_count <= max_accounts", name="account_count"),
)

acme_nonces = Table(
    "acme_nonces",
    metadata,
    Column("nonce", Text, primary_key=True),
    Column("expires_at", UTCDateTime(), nullable=False),
    Index(None, "expires_at"),
)

# Rate-limit buckets on PostgreSQL (UNLOGGED, storage/rate_counters.py; SQLite counts in `<db>-nonces`).
acme_rate_counters = Table(
    "acme_rate_counters",
    metadata,
    Column("key", Text, primary_key=True),
    Column("window_start", BigInteger, primary_key=True),  # seconds since the epoch
    Column("count", Integer, nullable=False),
    Column("expires_at", BigInteger, nullable=False),  # seconds since the epoch
)

acme_orders = Table(
    "acme_orders",
    metadata,
    _id(),
    Column("account_id", String(36), ForeignKey("acme_accounts.id"), nullable=False),
    # NULL: the order was made without a profile (the service resolves its default at finalize).
    Column("profile_id", String(36), ForeignKey("profiles.id"), nullable=True),
    *_status("acme_orders", OrderStatus),
    Column("identifiers", JSON, nullable=False),
    Column("not_before", UTCDateTime(), nullable=True),
    Column("not_after", UTCDateTime(), nullable=True),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("error", JSON, nullable=True),  # the problem document of a failed order
    Column("certificate_id", String(36), ForeignKey("certificates.id", ondelete="SET NULL"), nullable=True),
    Column("replaces", Text, nullable=True),  # ARI certID of the certificate this order renews
    _created_at(),
    Column("updated_at", UTCDateTime(), nullable=False),
    # Set by ready -> processing; recovery fails an order processing for longer than the lease.
    Column("processing_started_at", UTCDateTime(), nullable=True),
    Index(None, "account_id", "created_at"),
    Index(None, "status", "expires_at"),
    Index(None, "replaces"),
)

acme_authorizations = Table(
    "acme_authorizations",
    metadata,
    _id(),
    Column("account_id", String(36), ForeignKey("acme_accounts.id"), nullable=False),
    Column("identifier_type", Text, nullable=False),
    Column("identifier_value", Text, nullable=False),
    Column("wildcard", Boolean, nullable=False, server_default=false()),
    *_status("acme_authorizations", AuthorizationStatus),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("pre_authorized", Boolean, nullable=False, server_default=false()),
    _created_at(),
    # Reuse of a valid authorization for the same account and identifier; named by hand because the
    # generated name is longer than PostgreSQL's 63-character limit.
    Index("ix_acme_authorizations_reuse", "account_id", "identifier_type", "identifier_value", "status"),
    # The pending-authorizations limit of newOrder: a count and a minimum read from the index alone.
    Index("ix_acme_authorizations_pending", "account_id", "status", "expires_at"),
    Index(None, "expires_at"),
)

acme_order_authorizations = Table(
    "acme_order_authorizations",
    metadata,
    Column("order_id", String(36), ForeignKey("acme_orders.id", ondelete="CASCADE"), nullable=False),
    Column(
        "authorization_id",
        String(36),
        ForeignKey("acme_authorizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # The authorization's place in the order's list (RFC 8555 §7.1.3 "authorizations" is an array).
    Column("position", Integer, nullable=False, server_default=text("0")),
    PrimaryKeyConstraint("order_id", "authorization_id"),
    Index(None, "authorization_id"),  # the orders an authorization's outcome moves forward
)

acme_challenges = Table(
    "acme_challenges",
    metadata,
    _id(),
    Column(
        "authorization_id",
        String(36),
        ForeignKey("acme_authorizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("type", Text, nullable=False),
    Column("token", Text, nullable=False),
    *_status("acme_challenges", ChallengeStatus),
    Column("validated_at", UTCDateTime(), nullable=True),
    Column("error", JSON, nullable=True),
    # The validation worker claims a 'processing' challenge with a conditional update on these two.
    Column("processing_started_at", UTCDateTime(), nullable=True),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    _created_at(),
    UniqueConstraint("authorization_id", "type"),
    Index(None, "status", "processing_started_at"),
)
