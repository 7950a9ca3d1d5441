"""`acme-server policy ...`: what may be requested (name patterns, subject attributes, max TTL)."""

from __future__ import annotations

import argparse
from typing import Any

from acme_server.cli.common import read_json_object
from acme_server.cli.documents import DocumentCommands
from acme_server.errors import Malformed
from acme_server.services.config import policies

_NAME_KINDS = {"cn": None, "dns": "dns", "ip": "ip", "email": "email", "uri": "uri"}


def _document(args: argparse.Namespace, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The policy the flags describe (an update replaces the whole policy: `base` is unused)."""
    if args.file:
        return read_json_object(args.file, what="policy document")
    document: dict[str, Any] = {"description": args.description or "", "altNames": {}}
    for kind, san in _NAME_KINDS.items():
        rule = {
            "allowed": getattr(args, f"allow_{kind}") or [],
            "denied": getattr(args, f"deny_{kind}") or [],
        }
        if san is None:
            document["commonName"] = rule
        else:
            document["altNames"][san] = rule
    allowed: dict[str, list[str]] = {}
    for item in args.allow_subject or []:
        attribute, sep, pattern = item.partition("=")
        if not sep:
            raise Malformed(f"--allow-subject {item!r}: use ATTRIBUTE=PATTERN, e.g. O=Acme*")
        allowed.setdefault(attribute.strip(), []).append(pattern.strip())
    document["subject"] = {"allowed": allowed, "required": args.require_subject or []}
    document["maxTtl"] = args.max_ttl
    return document


def _rule_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--file", help="a JSON policy document (the REST API's shape); other flags are ignored"
    )
    parser.add_argument("--description")
    for kind in _NAME_KINDS:
        label = "common name" if kind == "cn" else f"{kind.upper() if kind != 'email' else 'e-mail'} SAN"
        parser.add_argument(f"--allow-{kind}", action="append", metavar="PATTERN", help=f"allowed {label}")
        parser.add_argument(f"--deny-{kind}", action="append", metavar="PATTERN", help=f"denied {label}")
    parser.add_argument("--allow-subject", action="append", metavar="ATTR=PATTERN", help="e.g. O=Acme*")
    parser.add_argument("--require-subject", action="append", metavar="ATTR", help="O, OU, C, ST or L")
    parser.add_argument("--max-ttl", help="longest lifetime allowed, e.g. 90d")


COMMANDS = DocumentCommands(
    kind="policy",
    plural="policies",
    help="certificate policies",
    create=policies.create_policy,
    update=policies.update_policy,
    get=policies.get_policy,
    list_all=policies.list_policies,
    delete=policies.delete_policy,
    document=_document,
    options=_rule_options,
    columns=("id", "name", "description"),
    update_help="replace a policy's rules",
    delete_help="delete an unused policy",
)
register = COMMANDS.register
