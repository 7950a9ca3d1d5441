"""`acme-server audit list`: the audit log, newest first, filtered as the API's /audit; `audit prune`:
retention, deleting the events older than a duration (the prune is itself one row)."""

from __future__ import annotations

import argparse
from typing import Any

from acme_server.cli.common import emit, emit_table, leaf
from acme_server.services.platform import audit
from acme_server.services.platform.audit import AuditEvent
from acme_server.services.runtime import Runtime
from ca_core.durations import parse_duration

_COLUMNS = ["at", "actor", "action", "target", "detail", "requestId"]


def _view(event: AuditEvent, *, json_output: bool) -> dict[str, Any]:
    if json_output:
        return event.as_dict()
    detail = " ".join(f"{k}={v}" for k, v in sorted(event.detail.items()))
    return {
        "at": event.at,
        "actor": str(event.actor),
        "action": event.action,
        "target": f"{event.target_kind} {event.target_id or ''}".rstrip(),
        "detail": detail,
        "requestId": event.request_id,
    }


async def list_all(rt: Runtime, args: argparse.Namespace) -> int:
    since = audit.parse_since(args.since, rt.clock.now(), field="--since") if args.since else None
    events, total = await audit.list_events(
        rt, since=since, actor=args.actor, action=args.action, target=args.target, limit=args.limit
    )
    if not events and not args.json:
        print("no audit events match")
        return 0
    emit_table(args, [_view(e, json_output=args.json) for e in events], _COLUMNS)
    if total > len(events) and not args.json:
        print(f"({len(events)} newest of {total}: narrow with --since or raise --limit)")
    return 0


async def prune(rt: Runtime, args: argparse.Namespace) -> int:
    older_than = parse_duration(args.older_than, field="--older-than")
    deleted, before = await audit.prune(rt, older_than)
    if args.json:
        emit(args, {"deleted": deleted, "before": before})
    else:
        print(f"deleted {deleted} audit events from before {before.isoformat(timespec='seconds')}")
    return 0


def _limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 10_000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 1 to 10000")
    return int(text)


def register(commands: Any) -> None:
    group = commands.add_parser("audit", help="the audit log of admin changes").add_subparsers(
        dest="audit_command", required=True, metavar="ACTION"
    )
    p = leaf(group, "list", list_all, "audit events, newest first (who, what, when, request id)")
    p.add_argument("--since", metavar="WHEN", help="at or after an ISO date/time, or this long ago (7d, 12h)")
    p.add_argument("--actor", help="an actor's name or id (token name, OS user, account id)")
    p.add_argument("--action", help="an action (ca.create) or every action of a resource (ca)")
    p.add_argument("--target", help="a target's id, or a kind (profile, token, certificate ...)")
    p.add_argument("--limit", type=_limit, default=100, help="at most this many events (default 100)")
    p = leaf(
        group,
        "prune",
        prune,
        "delete the events older than a duration (retention); leaves one audit.prune row",
    )
    p.add_argument(
        "--older-than", required=True, metavar="DURATION", help="e.g. 365d: events from before a year ago go"
    )
