"""`acme-server renewals ...`: server-driven auto-renewal — one scheduler pass from the shell (cron,
tests), a certificate's renewal status and attempts, switching auto-renewal on or off."""

from __future__ import annotations

import argparse
from typing import Any

from acme_server.cli.common import emit, emit_table, leaf, progress
from acme_server.services.renewal import scheduler
from acme_server.services.renewal.scheduler import RenewalAttempt
from acme_server.services.runtime import Runtime
from acme_server.statuses import RenewalOutcome

_ATTEMPT_COLUMNS = ["certificate", "attemptedAt", "outcome", "successor", "nextAttemptAt", "error"]


def _attempt_view(attempt: RenewalAttempt) -> dict[str, Any]:
    return {
        "certificate": attempt.certificate_id,
        "attemptedAt": attempt.attempted_at,
        "outcome": attempt.outcome,
        "successor": attempt.successor_id,
        "nextAttemptAt": attempt.next_attempt_at,
        "error": attempt.error,
    }


async def run_due(rt: Runtime, args: argparse.Namespace) -> int:
    async with progress("renewing due certificates") as line:
        attempts = await scheduler.run_due(rt, limit=args.limit, on_progress=line.advance)
    if not attempts and not args.json:
        print("no certificate is due for renewal")
        return 0
    emit_table(args, [_attempt_view(a) for a in attempts], _ATTEMPT_COLUMNS)
    return 1 if any(a.outcome == RenewalOutcome.FAILED for a in attempts) and args.fail_on_error else 0


async def show(rt: Runtime, args: argparse.Namespace) -> int:
    status = await scheduler.get_renewal_status(rt, args.certificate)
    emit(
        args,
        {
            "certificate": status.certificate_id,
            "autoRenew": status.auto_renew,
            "eligible": status.eligible,
            "renewAfter": status.renew_after,
            "failures": status.failures,
            "nextAttemptAt": status.next_attempt_at,
            "lastError": status.last_error,
            "attempts": [_attempt_view(a) for a in status.attempts] if args.json else len(status.attempts),
        },
    )
    return 0


async def enable(rt: Runtime, args: argparse.Namespace) -> int:
    cert = await scheduler.set_auto_renew(rt, args.certificate, True)
    print(f"auto-renewal on for certificate {cert.id} ({cert.common_name})")
    return 0


async def disable(rt: Runtime, args: argparse.Namespace) -> int:
    cert = await scheduler.set_auto_renew(rt, args.certificate, False)
    print(f"auto-renewal off for certificate {cert.id} ({cert.common_name})")
    return 0


def register(commands: Any) -> None:
    group = commands.add_parser("renewals", help="server-driven auto-renewal").add_subparsers(
        dest="renewals_command", required=True, metavar="ACTION"
    )
    p = leaf(group, "run-due", run_due, "renew every due certificate once (one scheduler pass; for cron)")
    p.add_argument("--limit", type=int, default=100, help="at most this many certificates (default 100)")
    p.add_argument(
        "--fail-on-error", action="store_true", help="exit 1 when a renewal failed (it is retried later)"
    )
    p = leaf(group, "show", show, "a certificate's auto-renewal state and renewal attempts")
    p.add_argument("certificate", metavar="CERTIFICATE", help="certificate id")
    for name, handler, verb in (("enable", enable, "on"), ("disable", disable, "off")):
        leaf(
            group, name, handler, f"switch auto-renewal {verb} for a certificate", json_output=False
        ).add_argument("certificate", metavar="CERTIFICATE", help="certificate id")
