"""`acme-server eab ...`: external account binding keys (RFC 8555 §7.3.4) for ACME clients; the HMAC key
is printed once, at creation. A key binds one account by default, or `--max-accounts` of a fleet."""

from __future__ import annotations

import argparse
from typing import Any

from acme_server.cli.common import emit, emit_table, leaf
from acme_server.services.acme import eab
from acme_server.services.acme.eab import EABKey
from acme_server.services.runtime import Runtime


async def create(rt: Runtime, args: argparse.Namespace) -> int:
    limit = eab.max_accounts(args.max_accounts)
    key = await eab.create_eab_key(rt, args.profile, limit)
    view: dict[str, Any] = {"kid": key.kid, "hmac": key.hmac}
    if args.profile is not None or args.json:
        view["profile"] = args.profile
    if args.json:
        view["maxAccounts"] = limit  # null: any number, as the API
    elif limit != 1:
        view["maxAccounts"] = _limit(limit)
    emit(args, view)
    return 0


def _limit(limit: int | None) -> str | int:
    return "unlimited" if limit is None else limit


def _view(key: EABKey, *, text: bool) -> dict[str, Any]:
    """The API's shape (api/views.py eab_key) for --json; in text, the limit as a word."""
    return {
        "kid": key.kid,
        "profile": key.profile,
        "createdAt": key.created_at,
        "maxAccounts": _limit(key.max_accounts) if text else key.max_accounts,
        "accountCount": key.account_count,
        "disabledAt": key.disabled_at,
        "accounts": [{"id": b.account_id, "status": b.status, "boundAt": b.bound_at} for b in key.bindings],
    }


async def list_all(rt: Runtime, args: argparse.Namespace) -> int:
    keys = await eab.list_eab_keys(rt, args.profile)
    if args.json:
        emit_table(args, [_view(key, text=False) for key in keys], [])
        return 0
    rows = [
        {
            "kid": key.kid,
            "profile": key.profile,
            "createdAt": key.created_at,
            "bound": f"{key.account_count}/{_limit(key.max_accounts)}",
            "disabledAt": key.disabled_at,
            "accounts": ",".join(b.account_id for b in key.bindings),
        }
        for key in keys
    ]
    emit_table(args, rows, ["kid", "profile", "createdAt", "bound", "disabledAt", "accounts"])
    return 0


async def show(rt: Runtime, args: argparse.Namespace) -> int:
    key = await eab.get_eab_key(rt, args.kid)
    view = _view(key, text=not args.json)
    if args.json:
        emit(args, view)
        return 0
    bindings = view.pop("accounts")
    emit(args, view)
    if bindings:
        print()
        emit_table(args, [{"account": b["id"], **b} for b in bindings], ["account", "status", "boundAt"])
    return 0


def _report_deactivated(action: str, kid: str, deactivated: list[str]) -> None:
    print(f"{action} external account key {kid}")
    for account_id in deactivated:
        print(f"deactivated account {account_id}")


async def disable(rt: Runtime, args: argparse.Namespace) -> int:
    deactivated = await eab.disable_eab_key(rt, args.kid, deactivate_accounts=args.deactivate_accounts)
    _report_deactivated("disabled", args.kid, deactivated)
    return 0


async def enable(rt: Runtime, args: argparse.Namespace) -> int:
    await eab.enable_eab_key(rt, args.kid)
    print(f"enabled external account key {args.kid}")
    return 0


async def delete(rt: Runtime, args: argparse.Namespace) -> int:
    deactivated = await eab.delete_eab_key(rt, args.kid, deactivate_accounts=args.deactivate_accounts)
    _report_deactivated("deleted", args.kid, deactivated)
    return 0


def _kid(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("kid", metavar="KID", help="the key's kid, as eab list shows it")
    return parser


def _deactivate_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--deactivate-accounts",
        action="store_true",
        help="also deactivate every account the key bound (RFC 8555 §7.3.6; final)",
    )


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
    p.add_argument(
        "--max-accounts",
        default="1",
        metavar="N|unlimited",
        help="how many accounts the key may bind, e.g. one per node of a fleet (default 1: single-use)",
    )
    p = leaf(group, "list", list_all, "list keys (never their HMAC keys) and the accounts they bound")
    p.add_argument("--profile", help="only the keys made for this profile")
    _kid(leaf(group, "show", show, "show one key and every account it bound"))
    p = _kid(leaf(group, "disable", disable, "stop a key binding new accounts", json_output=False))
    _deactivate_flag(p)
    _kid(leaf(group, "enable", enable, "let a disabled key bind accounts again", json_output=False))
    p = _kid(
        leaf(
            group,
            "delete",
            delete,
            "delete a key; one that bound accounts only with --deactivate-accounts",
            json_output=False,
        )
    )
    _deactivate_flag(p)
