"""`acme-server ca rotate OLD --to NEW` and `ca rotation status|finish|cancel`: the rotation from the
shell on both engines, its progress, the one-line refusals (a second rotation, finishing while
certificates depend on the old CA) with exit 1, and the plain `ca rotate CA` (renew now) kept."""

from __future__ import annotations

import json

import pytest

from acme_server.cli import main
from tests.cli.test_cli import CLI, cli  # noqa: F401 - the fixture


def rotation(cli: CLI, action: str, *args: str, expect: int = 0) -> str:  # noqa: F811
    """`ca rotation ACTION ...`: the settings options go after the leaf's name."""
    cli.capsys.readouterr()
    code = main(["ca", "rotation", action, *cli.base, *args])
    out, err = cli.capsys.readouterr()
    assert code == expect, f"exit {code}: {out}{err}"
    return out if expect == 0 else err


def _setup(run: CLI) -> None:
    run("ca", "create-root", "c-root")
    run("ca", "create-intermediate", "c-old", "--parent", "c-root")
    run("profile", "create", "web", "--ca", "c-old", "--auto-renew")


def test_rotate_moves_the_profile_and_reports_progress(cli: CLI) -> None:  # noqa: F811
    _setup(cli)
    issued = cli.json("cert", "issue", "--profile", "web", "--cn", "a.example.internal", "--ttl", "30d")
    assert isinstance(issued, dict)
    started = cli.json("ca", "rotate", "c-old", "--to", "c-new", "--create", "--spread", "0", "--grace", "1h")
    assert isinstance(started, dict)
    assert (started["oldCa"], started["newCa"], started["state"]) == ("c-old", "c-new", "renewing")
    assert (started["spreadSeconds"], started["graceSeconds"]) == (0, 3600)
    assert (started["onOldCa"], started["renewed"], started["notRenewing"]) == (1, 0, 0)
    new = cli.json("ca", "show", "c-new")
    assert isinstance(new, dict) and new["parent"] == cli.json("ca", "show", "c-root")["id"]  # type: ignore[index]
    assert cli.json("profile", "show", "web")["caId"] == new["id"]  # type: ignore[index]
    # The spread is 0: the certificate's moment is now, so one scheduler pass renews it onto c-new.
    (attempt,) = cli.json("renewals", "run-due")  # type: ignore[misc]
    assert attempt["certificate"] == issued["id"] and attempt["outcome"] == "renewed"
    status = json.loads(rotation(cli, "status", "c-old", "--json"))
    assert (status["onOldCa"], status["renewed"], status["notRenewing"]) == (0, 1, 0)
    text = rotation(cli, "status", "c-old")
    assert "state: renewing\n" in text and "renewed: 1\n" in text
    done = json.loads(rotation(cli, "finish", "c-old", "--json"))
    assert done["state"] == "completed" and done["finishedAt"] is not None
    assert cli.json("ca", "show", "c-old")["status"] == "disabled"  # type: ignore[index]


def test_refusals_are_one_line_errors(cli: CLI) -> None:  # noqa: F811
    _setup(cli)
    cli("ca", "create-intermediate", "c-new", "--parent", "c-root")
    cli("ca", "create-intermediate", "c-other", "--parent", "c-root")
    cli("cert", "issue", "--profile", "web", "--cn", "b.example.internal", "--ttl", "30d")
    assert rotation(cli, "status", "c-old", expect=1) == "error: no rotation of CA 'c-old'\n"
    cli("ca", "rotate", "c-old", "--to", "c-new")
    error = cli("ca", "rotate", "c-old", "--to", "c-other", expect=1)
    assert error == (
        "error: CA 'c-old' is already being rotated to 'c-new' (finish or cancel that rotation first)\n"
    )
    error = rotation(cli, "finish", "c-old", expect=1)
    assert error == (
        "error: 1 active certificate(s) still depend on CA 'c-old' (0 not renewing);"
        " wait for them, or force it\n"
    )
    assert cli("ca", "rotate", "c-old", "--spread", "soon", "--to", "c-new", expect=1).startswith("error: ")
    assert cli("ca", "rotate", "c-old", "--create", expect=1) == (
        "error: to: --create and --cross-sign need --to NEW\n"
    )
    assert json.loads(rotation(cli, "finish", "c-old", "--force", "--json"))["state"] == "completed"
    assert rotation(cli, "cancel", "c-old", expect=1) == "error: CA 'c-old' has no rotation under way\n"


@pytest.mark.parametrize("database_engine", ["sqlite"])
def test_plain_rotate_still_asks_acme_clients_to_renew_now(cli: CLI) -> None:  # noqa: F811
    _setup(cli)
    marked = cli.json("ca", "rotate", "c-old")
    assert marked == {"ca": "c-old", "certificatesToRenew": 0}
