"""`acme-server eab ...` and the profile flags for the ACME rules, end to end on a real database: what an
operator types and sees, and one-line errors with exit 1."""

from __future__ import annotations

import asyncio
import re
import secrets
from pathlib import Path

import pytest

from acme_server.storage import Storage
from ca_core.jose import b64decode
from tests.cli.test_cli import CLI


@pytest.fixture
def cli(tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> CLI:
    return CLI(tmp_path / "data", database_url, capsys)


@pytest.fixture
def ca(cli: CLI) -> CLI:
    """A CLI over a database with a CA, an ACME profile `web` and an API-only profile `api-only`."""
    cli("ca", "create-root", "corp-root")
    cli("profile", "create", "web", "--ca", "corp-root")
    cli("profile", "create", "api-only", "--ca", "corp-root", "--enrollment", "api")
    return cli


def _bind(database_url: str, kid: str) -> str:
    """Bind `kid` to a new account, as a newAccount with that key would; returns the account id."""

    async def bind() -> str:
        storage = await Storage.open(database_url)
        try:
            async with storage.transaction() as tx:
                account = await tx.accounts.create(
                    jwk_thumbprint=secrets.token_urlsafe(16),
                    jwk={"kty": "EC"},
                    contacts=[],
                    terms_agreed=True,
                    eab_kid=kid,
                )
                assert await tx.eab.bind(kid)
            return account.id
        finally:
            await storage.close()

    return asyncio.run(bind())


def test_eab_create_prints_the_kid_and_the_hmac_key_once(ca: CLI) -> None:
    out = ca("eab", "create")
    match = re.fullmatch(r"kid: ([A-Za-z0-9_-]+)\nhmac: ([A-Za-z0-9_-]+)\n", out)
    assert match is not None, out
    assert len(b64decode(match[2])) == 32  # base64url without padding, what certbot/lego/cert-manager take
    listed = ca.json("eab", "list")
    assert isinstance(listed, list) and [k["kid"] for k in listed] == [match[1]]
    assert "hmac" not in listed[0]


def test_eab_create_for_a_profile_with_json_and_list_by_profile(ca: CLI) -> None:
    created = ca.json("eab", "create", "--profile", "web")
    assert isinstance(created, dict) and set(created) == {"kid", "hmac", "profile", "maxAccounts"}
    assert created["profile"] == "web"
    text = ca("eab", "create", "--profile", "web")
    assert text.endswith("profile: web\n")
    anywhere = ca.json("eab", "create")
    assert isinstance(anywhere, dict) and anywhere["profile"] is None
    listed = ca.json("eab", "list")
    assert isinstance(listed, list)
    assert [(k["profile"], k["maxAccounts"], k["accountCount"], k["accounts"]) for k in listed] == [
        ("web", 1, 0, []),
        ("web", 1, 0, []),
        (None, 1, 0, []),
    ]
    only_web = ca.json("eab", "list", "--profile", "web")
    assert isinstance(only_web, list) and len(only_web) == 2
    table = ca("eab", "list")
    assert table.splitlines()[0].split() == ["KID", "PROFILE", "CREATEDAT", "BOUND", "DISABLEDAT", "ACCOUNTS"]


def test_eab_delete_removes_an_unused_key_and_keeps_a_bound_one(ca: CLI, database_url: str) -> None:
    unused = ca.json("eab", "create")
    bound = ca.json("eab", "create", "--profile", "web")
    assert isinstance(unused, dict) and isinstance(bound, dict)
    assert ca("eab", "delete", unused["kid"]) == f"deleted external account key {unused['kid']}\n"
    account_id = _bind(database_url, bound["kid"])
    err = ca("eab", "delete", bound["kid"], expect=1)
    assert err == (
        f"error: external account key {bound['kid']!r} bound 1 account(s) and cannot be deleted without"
        " deactivating them; disable it to keep them\n"
    )
    listed = ca.json("eab", "list")
    assert isinstance(listed, list)
    assert [(k["kid"], [a["id"] for a in k["accounts"]]) for k in listed] == [(bound["kid"], [account_id])]
    out = ca("eab", "delete", bound["kid"], "--deactivate-accounts")
    assert out == f"deleted external account key {bound['kid']}\ndeactivated account {account_id}\n"


def test_eab_fleet_key_show_lists_its_bindings_and_disable_deactivates(ca: CLI, database_url: str) -> None:
    created = ca.json("eab", "create", "--profile", "web", "--max-accounts", "5")
    assert isinstance(created, dict) and created["maxAccounts"] == 5
    kid = created["kid"]
    assert ca("eab", "create", "--max-accounts", "unlimited").splitlines()[-1] == "maxAccounts: unlimited"
    accounts = [_bind(database_url, kid) for _ in range(3)]
    shown = ca.json("eab", "show", kid)
    assert isinstance(shown, dict)
    assert (shown["maxAccounts"], shown["accountCount"], shown["disabledAt"]) == (5, 3, None)
    assert sorted(a["id"] for a in shown["accounts"]) == sorted(accounts)
    assert {a["status"] for a in shown["accounts"]} == {"valid"}
    text = ca("eab", "show", kid)
    assert "maxAccounts: 5\naccountCount: 3\n" in text and all(a in text for a in accounts)
    assert text.splitlines()[text.splitlines().index("") + 1].split() == ["ACCOUNT", "STATUS", "BOUNDAT"]
    table = ca("eab", "list", "--profile", "web")
    assert table.splitlines()[1].split()[3] == "3/5"
    out = ca("eab", "disable", kid, "--deactivate-accounts")
    assert out.splitlines()[0] == f"disabled external account key {kid}"
    assert sorted(line.split()[-1] for line in out.splitlines()[1:]) == sorted(accounts)
    shown = ca.json("eab", "show", kid)
    assert isinstance(shown, dict) and shown["disabledAt"] is not None
    assert {a["status"] for a in shown["accounts"]} == {"deactivated"}
    assert ca("eab", "enable", kid) == f"enabled external account key {kid}\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("eab", "delete", "nope"), "error: no external account key 'nope'\n"),
        (("eab", "show", "nope"), "error: no external account key 'nope'\n"),
        (("eab", "disable", "nope"), "error: no external account key 'nope'\n"),
        (
            ("eab", "create", "--max-accounts", "0"),
            "error: the account limit must be a whole number of 1 or more, or 'unlimited', not '0'\n",
        ),
        (("eab", "create", "--profile", "nope"), "error: no profile 'nope'\n"),
        (("eab", "list", "--profile", "nope"), "error: no profile 'nope'\n"),
        (
            ("eab", "create", "--profile", "api-only"),
            "error: profile 'api-only' does not allow ACME enrollment\n",
        ),
    ],
)
def test_eab_errors_are_one_line_and_exit_1(ca: CLI, args: tuple[str, ...], message: str) -> None:
    assert ca(*args, expect=1) == message


def test_profile_flags_for_the_acme_rules(ca: CLI) -> None:
    created = ca.json(
        "profile",
        "create",
        "partners",
        "--ca",
        "corp-root",
        "--no-allow-wildcards",
        "--require-eab",
        "--pre-authorize",
        "*.svc.example.internal",
        "--pre-authorize",
        "**.corp.example.internal",
        "--authorization-reuse",
        "0",
    )
    assert isinstance(created, dict)
    assert (
        created["allowWildcards"],
        created["requireEab"],
        created["preAuthorized"],
        created["authorizationReuse"],
    ) == (False, True, ["*.svc.example.internal", "**.corp.example.internal"], "0d")
    updated = ca.json(
        "profile", "update", "partners", "--allow-wildcards", "--pre-authorize", "db.example.internal"
    )
    assert isinstance(updated, dict)
    assert (updated["allowWildcards"], updated["requireEab"], updated["preAuthorized"]) == (
        True,
        True,
        ["db.example.internal"],
    )
    err = ca("profile", "update", "partners", "--pre-authorize", "bad..name", expect=1)
    assert err == "error: preAuthorized[0]: 'bad..name': empty label\n"
    err = ca("profile", "update", "partners", "--authorization-reuse", "soon", expect=1)
    assert err.startswith("error: authorizationReuse: 'soon' is not a duration")
