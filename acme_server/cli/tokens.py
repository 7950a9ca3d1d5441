"""`acme-server token ...`: REST API bearer tokens; the secret is printed once, at creation."""

from __future__ import annotations

import argparse
from typing import Any

from acme_server.cli.common import emit, emit_table, leaf
from acme_server.services.access import tokens
from acme_server.services.access.tokens import Role, TokenInfo
from acme_server.services.runtime import Runtime
from ca_core.durations import parse_duration


def _view(token: TokenInfo) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "role": token.role.value,
        "createdAt": token.created_at,
        "expiresAt": token.expires_at,
        "lastUsedAt": token.last_used_at,
    }


async def create(rt: Runtime, args: argparse.Namespace) -> int:
    expires_in = parse_duration(args.expires_in, field="--expires-in") if args.expires_in else None
    name = args.name if args.name is not None else f"{args.role}-token"
    secret, token = await tokens.create_token(rt, name, args.role, expires_in)
    emit(args, {"token": secret, **_view(token)})
    return 0


async def list_all(rt: Runtime, args: argparse.Namespace) -> int:
    rows = [_view(token) for token in await tokens.list_tokens(rt)]
    emit_table(args, rows, ["id", "name", "role", "createdAt", "expiresAt", "lastUsedAt"])
    return 0


async def revoke(rt: Runtime, args: argparse.Namespace) -> int:
    token = await tokens.revoke_token(rt, args.token)
    print(f"revoked API token {token.name} ({token.id})")
    return 0


def register(commands: Any) -> None:
    group = commands.add_parser("token", help="bearer tokens for the REST API").add_subparsers(
        dest="token_command", required=True, metavar="ACTION"
    )
    p = leaf(group, "create", create, "create a token; prints its secret (shown only now)")
    p.add_argument(
        "--role",
        required=True,
        choices=[role.value for role in Role],
        help="admin: CAs, profiles, policies, EAB keys, tokens; operator: issue, renew, revoke, export,"
        " metadata; viewer: read",
    )
    p.add_argument("--name", help="a name for logs and listings (default ROLE-token)")
    p.add_argument("--expires-in", metavar="DURATION", help="lifetime like 90d or 12h (default: no expiry)")
    leaf(group, "list", list_all, "list tokens (never their secrets)")
    leaf(
        group, "revoke", revoke, "delete a token; requests with it fail from now on", json_output=False
    ).add_argument("token", metavar="TOKEN", help="the token's id or name, as token list shows it")
