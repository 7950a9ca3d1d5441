"""`acme-server eab ...`: external account binding keys (RFC 8555 §7.3.4) for ACME clients; the HMAC key
is printed once, at creation."""

from __future__ import annotations

import argparse
from typing import Any

from acme_server.cli.common import emit, emit_table, leaf
from acme_server.services import eab
from acme_server.services.eab import EABKey
from acme_server.services.runtime import Runtime


async def create(rt: Runtime, args: argparse.Namespace) -> int:
    key = await eab.create_eab_key(rt, args.profile)
    view: dict[str, Any] = {"kid": key.kid, "hmac": key.hmac}
    if args.profile is not None or args.json:
        view["profile"] = args.profile
    emit(args, view)
    return 0


def _view(key: EABKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "profile": key.profile,
        "createdAt": key.created_at,
        "boundAccount": key.bound_account_id,
        "boundAt": key.bound_at,
    }


async def list_all(rt: Runtime, args: argparse.Namespace) -> int:
    rows = [_view(key) for key in await eab.list_eab_keys(rt, args.profile)]
    emit_table(args, rows, ["kid", "profile", "createdAt", "boundAccount", "boundAt"])
    return 0


async def delete(rt: Runtime, args: argparse.Namespace) -> int:
    await eab.delete_eab_key(rt, args.kid)
    print(f"deleted external account key {args.kid}")
    return 0


def register(commands: Any) -> None:
    group = commands.add_parser("eab", help="external account binding keys for ACME clients").add_subparsers(
        dest="eab_command", required=True, metavar="ACTION"
    )
    p = leaf(group, "create", create, "create a key; prints its kid and HMAC key (shown only now)")
    p.add_argument(
        "--profile",
        help="profile (id or name) the key is for: it binds on that profile's directory or the default"
        " one; without: any",
    )
    p = leaf(group, "list", list_all, "list keys (never their HMAC keys) and the accounts they bound")
    p.add_argument("--profile", help="only the keys made for this profile")
    leaf(group, "delete", delete, "delete a key no account is bound with", json_output=False).add_argument(
        "kid", metavar="KID", help="the key's kid, as eab list shows it"
    )
