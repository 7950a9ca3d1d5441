"""The audit log: who changed what, and when. `record` writes one row in the transaction of the change
it records (so neither commits without the other) and logs one `acme_server.audit` line carrying the
request id. Who acts is set once at each edge — the API per token, the UI per signed-in session, the
CLI as the local shell's OS user — with `acting`, and read here with `current`."""

from __future__ import annotations

import asyncio
import getpass
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from acme_server.observability import logs
from acme_server.services.runtime import Runtime
from acme_server.storage import AuditFilter, AuditRecord, Tx
from acme_server.storage.base import make_id, utcnow
from ca_core.durations import parse_duration
from ca_core.errors import InvalidSetting

audit_log = logging.getLogger("acme_server.audit")


@dataclass(frozen=True)
class Actor:
    """Who acts: kind `token` (REST API), `ui` (a signed-in UI session, by its token), `shell` (the CLI,
    by OS user), `account` (an ACME account, e.g. revokeCert) or `system` (nothing set an actor)."""

    kind: str
    name: str
    id: str | None = None

    def __str__(self) -> str:
        if self.kind == "shell":
            return f"local shell ({self.name})"
        if self.kind == "account":
            return f"ACME account {self.id}"
        if self.kind in ("token", "ui"):
            via = "API" if self.kind == "token" else "UI"
            return f"{via} token {self.name!r} ({self.id})"
        return self.name


UNATTRIBUTED = Actor("system", "server")
_ACTOR: ContextVar[Actor] = ContextVar("audit_actor", default=UNATTRIBUTED)


def token_actor(token_id: str, token_name: str, *, ui: bool = False) -> Actor:
    return Actor("ui" if ui else "token", token_name, token_id)


def shell_actor() -> Actor:
    """The CLI: whoever runs it on this host (the OS user; the database's own access rules decide who
    may run it at all)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container's arbitrary user)
        user = "unknown user"
    return Actor("shell", user)


def account_actor(account_id: str) -> Actor:
    return Actor("account", "ACME account", account_id)


@contextmanager
def acting(actor: Actor) -> Iterator[Actor]:
    """Attribute the changes made inside the block (this task and the tasks it starts) to `actor`."""
    reset = _ACTOR.set(actor)
    try:
        yield actor
    finally:
        _ACTOR.reset(reset)


def current(default: Actor = UNATTRIBUTED) -> Actor:
    """Who acts in this task: what an edge set with `acting`, else `default` (the server itself)."""
    actor = _ACTOR.get()
    return default if actor is UNATTRIBUTED else actor


def new_row(
    actor: Actor, action: str, target_kind: str, target_id: str | None, detail: Mapping[str, Any]
) -> AuditRecord:
    """One audit row, not yet stored (record stores it; a restore stores it in its own transaction)."""
    return AuditRecord(
        id=make_id(),
        at=utcnow(),  # the storage clock, as every created_at
        actor_kind=actor.kind,
        actor_name=actor.name,
        actor_id=actor.id,
        action=action,
        target_kind=target_kind,
        target_id=target_id,
        detail=dict(detail),
        request_id=logs.REQUEST_ID.get(),
    )


def log_row(row: AuditRecord) -> None:
    """The `acme_server.audit` line of a stored row: it carries the row's id and the request id, so the
    log and the table lead to each other."""
    actor = Actor(row.actor_kind, row.actor_name, row.actor_id)
    extra = {"request_id": row.request_id, "fields": {"audit_id": row.id}}
    audit_log.info("%s %s %s by %s", row.action, row.target_kind, row.target_id or "-", actor, extra=extra)


async def record(
    tx: Tx,
    actor: Actor,
    action: str,
    target_kind: str,
    target_id: str | None,
    detail: Mapping[str, Any] | None = None,
    *,
    at: datetime | None = None,
) -> AuditRecord:
    """One audit row in `tx`, the transaction of the change itself. `detail`: JSON values naming what
    changed (never secrets)."""
    row = new_row(actor, action, target_kind, target_id, detail or {})
    if at is not None:
        row = replace(row, at=at)
    await tx.audit.insert(row)
    log_row(row)
    return row


@dataclass(frozen=True)
class AuditEvent:
    id: str
    at: datetime
    actor: Actor
    action: str
    target_kind: str
    target_id: str | None
    detail: dict[str, Any] = field(default_factory=dict)
    request_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The event as the API and `audit list --json` show it (the AuditEvent schema)."""
        return {
            "id": self.id,
            "at": self.at,
            "actor": {"kind": self.actor.kind, "name": self.actor.name, "id": self.actor.id},
            "action": self.action,
            "target": {"kind": self.target_kind, "id": self.target_id},
            "detail": self.detail,
            "requestId": self.request_id,
        }


def _event(row: AuditRecord) -> AuditEvent:
    return AuditEvent(
        id=row.id,
        at=row.at,
        actor=Actor(row.actor_kind, row.actor_name, row.actor_id),
        action=row.action,
        target_kind=row.target_kind,
        target_id=row.target_id,
        detail=row.detail,
        request_id=row.request_id,
    )


def parse_since(text: str, now: datetime, *, field: str = "since") -> datetime:
    """`--since`: an ISO date or date-time (a date is its midnight, UTC; no zone means UTC) or a
    duration back from `now` (7d, 12h); InvalidSetting naming `field` on anything else."""
    text = text.strip()
    try:
        parsed = datetime.fromisoformat(text)
        return parsed.astimezone(UTC) if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before the first representable instant
        raise InvalidSetting(field, f"{text!r} is out of range") from None
    except ValueError:
        pass
    try:
        return now - parse_duration(text, field=field)
    except InvalidSetting:
        raise InvalidSetting(
            field, f"{text!r} is neither a duration back from now (7d, 12h) nor an ISO date/time (2026-12-01)"
        ) from None


async def list_events(
    rt: Runtime,
    *,
    since: datetime | None = None,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[AuditEvent], int]:
    """One page of the log, newest first, and how many events match. `actor`: a name or id; `action`:
    one action or every action of a resource (`ca`); `target`: an id or a kind."""
    for name, value in (("actor", actor), ("action", action), ("target", target)):
        if value and "\x00" in value:  # PostgreSQL text cannot hold NUL: nothing could match
            raise InvalidSetting(name, "must not contain NUL characters")
    query = AuditFilter(since=since, actor=actor or None, action=action or None, target=target or None)
    async with rt.storage.read() as tx:
        rows, total = await tx.audit.list(query, limit=limit, offset=offset)
    return [_event(row) for row in rows], total


async def prune(rt: Runtime, older_than: timedelta) -> tuple[int, datetime]:
    """Delete the events older than `older_than` (retention, docs/operations.md); returns how many and
    the cut-off. The prune itself is the one row it leaves behind (who removed how much), in the same
    transaction, so a log that lost its history says so."""
    _check_retention(older_than)
    async with rt.storage.transaction() as tx:
        return await _prune(tx, current(), older_than)


def _check_retention(older_than: timedelta) -> None:
    if older_than <= timedelta(0):
        raise InvalidSetting("olderThan", "must be longer than zero")


async def _prune(tx: Tx, actor: Actor, older_than: timedelta) -> tuple[int, datetime]:
    now = utcnow()
    before = now - older_than
    deleted = await tx.audit.delete_before(before)
    detail = {"before": before.isoformat(), "deleted": deleted}
    await record(tx, actor, "audit.prune", "audit", None, detail, at=now)
    return deleted, before


RETENTION = Actor("system", "audit retention")
PRUNE_LEASE = "audit-prune"
PRUNE_EVERY = timedelta(days=1)
PRUNE_CHECK_SECONDS = 3600.0


async def prune_if_due(rt: Runtime, older_than: timedelta) -> int | None:
    """The `audit_retention` setting's pass: prune as RETENTION unless another worker or replica did
    within the last day; how many events went, or None when it was not due. The `audit-prune` lease
    is taken for a day by a holder of this pass alone and never released: only the first pass after
    it ran out prunes, wherever it runs (rule 13), and a failed prune rolls the lease back with it."""
    _check_retention(older_than)
    async with rt.storage.transaction() as tx:
        now = utcnow()
        if not await tx.leases.try_acquire(PRUNE_LEASE, make_id(), now=now, ttl=PRUNE_EVERY):
            return None
        deleted, _ = await _prune(tx, RETENTION, older_than)
    return deleted


async def run_pruner(
    rt: Runtime, stop: asyncio.Event, older_than: timedelta, *, interval: float = PRUNE_CHECK_SECONDS
) -> None:
    """Every worker runs this when `audit_retention` is set: a pass at start, then every `interval`
    seconds until `stop`; at most one pass a day prunes (prune_if_due)."""
    while not stop.is_set():
        try:
            await prune_if_due(rt, older_than)
        except OSError as exc:  # the database away for a moment: the next pass catches up
            audit_log.warning("audit retention: %s", exc)
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
