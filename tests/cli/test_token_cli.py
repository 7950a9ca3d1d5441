"""`acme-server token ...` end to end on a real database: the secret printed once, list, revoke, errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli.test_cli import CLI


@pytest.fixture
def cli(tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> CLI:
    return CLI(tmp_path / "data", database_url, capsys)


def test_token_create_list_revoke(cli: CLI) -> None:
    out = cli("token", "create", "--role", "admin", "--name", "ops", "--expires-in", "90d")
    match = re.search(r"^token: (acmes_[A-Za-z0-9_-]+)$", out, re.MULTILINE)
    assert match is not None, out
    assert "role: admin" in out and "name: ops" in out
    created = cli.json("token", "create", "--role", "viewer")
    assert isinstance(created, dict) and created["name"] == "viewer-token" and created["expiresAt"] is None
    listed = cli.json("token", "list")
    assert isinstance(listed, list)
    assert [(t["name"], t["role"]) for t in listed] == [("ops", "admin"), ("viewer-token", "viewer")]
    assert all("token" not in t for t in listed)
    assert cli("token", "list").splitlines()[0].split() == [
        "ID", "NAME", "ROLE", "CREATEDAT", "EXPIRESAT", "LASTUSEDAT"
    ]  # fmt: skip
    assert cli("token", "revoke", "ops") == f"revoked API token ops ({listed[0]['id']})\n"
    assert cli("token", "revoke", str(created["id"])).startswith("revoked API token viewer-token")
    assert cli.json("token", "list") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("token", "revoke", "nope"), "error: no API token 'nope'\n"),
        (
            ("token", "create", "--role", "admin", "--expires-in", "soon"),
            "error: --expires-in: 'soon' is not a duration like '30d', '12h30m' or '1y'\n",
        ),
        (("token", "create", "--role", "admin", "--name", " "), "error: name: must not be empty\n"),
    ],
)
def test_token_errors_are_one_line_and_exit_1(cli: CLI, args: tuple[str, ...], message: str) -> None:
    assert cli(*args, expect=1) == message
