"""The CLI refuses the inputs the API refuses (ca_core.subject, ca_core.durations), with one `error:`
line and exit 1, never a traceback: subject attributes past RFC 5280 bounds, durations over 100 years."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_cli import CLI


@pytest.fixture
def cli(tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> CLI:
    return CLI(tmp_path / "data", database_url, capsys)


def test_api_500s_cli_refuses_out_of_range_input_in_one_line(cli: CLI) -> None:
    cases = [
        (("token", "create", "--role", "admin", "--expires-in", "99999y"),
         "error: --expires-in: '99999y' is too long: at most 36500d (100 years)\n"),
        (("ca", "create-root", "r", "--ttl", "99999y"),
         "error: ttl: '99999y' is too long: at most 36500d (100 years)\n"),
        (("ca", "create-root", "r" * 65),
         "error: subject.CN: must be at most 64 characters (RFC 5280), got 65\n"),
        (("ca", "create-root", "r", "--country", "ü1"),
         "error: subject.C: 'ü1' is not a two-letter country code like 'DE'\n"),
    ]  # fmt: skip
    for args, message in cases:
        assert cli(*args, expect=1) == message
    cli("ca", "create-root", "r")
    cli("profile", "create", "p", "--ca", "r")
    err = cli("cert", "issue", "--profile", "p", "--cn", "c" * 65, "--dns", "a.internal", expect=1)
    assert err == "error: subject.CN: must be at most 64 characters (RFC 5280), got 65\n"
    err = cli("cert", "issue", "--profile", "p", "--cn", "c", "--locality", "l" * 129, expect=1)
    assert err == "error: subject.L: must be at most 128 characters (RFC 5280), got 129\n"
