"""`acme-server policy ...`: what may be requested (name patterns, subject attributes, max TTL)."""

from __future__ import annotations

import argparse
from typing import Any

from acme_server.cli.common import emit, emit_table, leaf, read_json_object
from acme_server.errors import Malformed
from acme_server.services.config import policies
from acme_server.services.config.policies import PolicyInfo
from acme_server.services.runtime import Runtime

_NAME_KINDS = {"cn": None, "dns": "dns", "ip": "ip", "email": "email", "uri": "uri"}


def _document(args: argparse.Namespace) -> dict[str, Any]:
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


def _view(info: PolicyInfo) -> dict[str, Any]:
    return {"id": info.id, "name": info.name, **info.policy.to_document(), "updatedAt": info.updated_at}


async def create(rt: Runtime, args: argparse.Namespace) -> int:
    emit(args, _view(await policies.create_policy(rt, args.name, _document(args))))
    return 0


async def update(rt: Runtime, args: argparse.Namespace) -> int:
    emit(args, _view(await policies.update_policy(rt, args.policy, _document(args))))
    return 0


async def list_all(rt: Runtime, args: argparse.Namespace) -> int:
    rows = [_view(p) for p in await policies.list_policies(rt)]
    emit_table(args, rows, ["id", "name", "description"])
    return 0


async def show(rt: Runtime, args: argparse.Namespace) -> int:
    emit(args, _view(await policies.get_policy(rt, args.policy)))
    return 0


async def delete(rt: Runtime, args: argparse.Namespace) -> int:
    await policies.delete_policy(rt, args.policy)
    print(f"deleted policy {args.policy}")
    return 0


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


def register(commands: Any) -> None:
    group = commands.add_parser("policy", help="certificate policies").add_subparsers(
        dest="policy_command", required=True, metavar="ACTION"
    )
    p = leaf(group, "create", create, "create a policy")
    p.add_argument("name")
    _rule_options(p)
    p = leaf(group, "update", update, "replace a policy's rules")
    p.add_argument("policy", help="id or name")
    _rule_options(p)
    leaf(group, "list", list_all, "list policies")
    leaf(group, "show", show, "show a policy").add_argument("policy", help="id or name")
    leaf(group, "delete", delete, "delete an unused policy", json_output=False).add_argument(
        "policy", help="id or name"
    )
