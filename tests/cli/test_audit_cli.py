"""`acme-server audit list` and `audit prune` end to end on a real database (changes made from the
shell, a restore among them, are the OS user's), and the progress line of long commands: drawn on a
terminal (a pty), never in piped output."""

from __future__ import annotations

import asyncio
import getpass
import io
import os
import pty
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from acme_server.cli.common import Progress
from acme_server.config import load_settings
from acme_server.services import issuance
from acme_server.services.platform import audit, bootstrap
from acme_server.services.runtime import open_runtime
from acme_server.storage import Storage
from ca_core.csr import build_csr
from ca_core.keys import KeyAlgorithm, generate_key
from ca_core.request import Subject, SubjectAltNames
from tests.cli.test_cli import CLI
from tests.test_serve import Server

ROOT = Path(__file__).parents[2]


@pytest.fixture
def cli(tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> CLI:
    return CLI(tmp_path / "data", database_url, capsys)


def test_shell_changes_are_listed_as_the_os_user(cli: CLI) -> None:
    cli("ca", "create-root", "corp-root")
    cli("policy", "create", "internal")
    cli("policy", "delete", "internal")
    events = cli.json("audit", "list")
    assert isinstance(events, list)
    assert [e["action"] for e in events] == ["policy.delete", "policy.create", "ca.create"]
    user = getpass.getuser()
    assert all(e["actor"] == {"kind": "shell", "name": user, "id": None} for e in events)
    assert all(e["requestId"] is None for e in events)  # no HTTP request behind a shell command
    text = cli("audit", "list", "--action", "ca").splitlines()
    assert text[0].split() == ["AT", "ACTOR", "ACTION", "TARGET", "DETAIL", "REQUESTID"]
    assert len(text) == 2 and f"local shell ({user})" in text[1] and "kind=root name=corp-root" in text[1]
    assert cli("audit", "list", "--actor", "someone-else") == "no audit events match\n"
    assert cli("audit", "list", "--since", "2999-01-01", "--json") == "[]\n"
    limited = cli("audit", "list", "--limit", "1").splitlines()
    assert limited[-1] == "(1 newest of 3: narrow with --since or raise --limit)"


def test_a_bad_since_is_one_error_line(cli: CLI) -> None:
    message = cli("audit", "list", "--since", "last week", expect=1)
    assert (
        message.startswith("error: --since: 'last week' is neither a duration") and message.count("\n") == 1
    )


def _run(data_dir: Path, *args: str, stderr_tty: bool) -> tuple[bytes, bytes]:
    """`acme-server ARGS` with standard output piped and standard error a pty or a pipe."""
    command = [sys.executable, "-m", "acme_server.cli", *args, "--data-dir", str(data_dir)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if not stderr_tty:
        done = subprocess.run(command, capture_output=True, env=env, timeout=120, check=True)
        return done.stdout, done.stderr
    controller, terminal = pty.openpty()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=terminal, env=env) as process:
        os.close(terminal)
        drawn = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            drawn += chunk
        out = process.stdout.read() if process.stdout else b""
        assert process.wait(timeout=120) == 0, drawn
    os.close(controller)
    return out, drawn


def test_a_crl_build_shows_progress_on_a_terminal_and_not_when_piped(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    _run(data_dir, "ca", "create-root", "corp-root", stderr_tty=False)
    out, drawn = _run(data_dir, "ca", "crl", "corp-root", stderr_tty=True)
    assert b"\rbuilding the CRL of corp-root: (" in drawn and drawn.endswith(b"\r\x1b[K")
    assert b"building" not in out and out.startswith(b"-----BEGIN X509 CRL-----")  # stdout stays clean
    out, err = _run(data_dir, "ca", "crl", "corp-root", stderr_tty=False)
    assert err == b"" and out.startswith(b"-----BEGIN X509 CRL-----")


class _Terminal(io.StringIO):
    """A standard error that says it is a terminal (for the count; the pty tests cover the real one)."""

    def isatty(self) -> bool:
        return True


def test_progress_counts_done_of_total_and_clears_its_line() -> None:
    terminal = _Terminal()
    line = Progress("renewing due certificates", stream=terminal)
    line.advance(2, 5, "web.example.internal")
    line.clear()
    assert terminal.getvalue() == (
        "\rrenewing due certificates: 2/5 web.example.internal (0s)\x1b[K" + "\r\x1b[K"
    )
    piped = io.StringIO()
    Progress("renewing due certificates", stream=piped).advance(1, 1)
    assert piped.getvalue() == ""


def test_renewals_run_due_shows_progress_on_a_terminal_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    _run(data_dir, "ca", "create-root", "corp-root", stderr_tty=False)
    _, drawn = _run(data_dir, "renewals", "run-due", stderr_tty=True)
    assert b"\rrenewing due certificates:" in drawn and drawn.endswith(b"\r\x1b[K")
    out, err = _run(data_dir, "renewals", "run-due", stderr_tty=False)
    assert err == b"" and b"renewing" not in out


def test_backup_and_restore_show_progress_on_a_terminal_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    _run(data_dir, "ca", "create-root", "corp-root", stderr_tty=False)
    backup = str(tmp_path / "one.backup")
    out, drawn = _run(data_dir, "backup", backup, stderr_tty=True)
    assert f"\rbacking up to {backup}: (".encode() in drawn and drawn.endswith(b"\r\x1b[K")
    assert out.startswith(b"backed up ")
    (tmp_path / "other").mkdir()  # a restore fills an empty database, in a directory that exists
    out, err = _run(tmp_path / "other", "restore", backup, stderr_tty=False)
    assert err == b"" and out.startswith(b"restored ")


async def _old_events(database_url: str, *ages: timedelta) -> None:
    storage = await Storage.open(database_url)
    try:
        async with storage.transaction() as tx:
            for age in ages:
                at = datetime.now(UTC) - age
                await audit.record(
                    tx, audit.shell_actor(), "policy.update", "policy", f"old-{age.days}", at=at
                )
    finally:
        await storage.close()


def test_prune_deletes_events_older_than_the_duration_and_is_listed_itself(
    cli: CLI, database_url: str
) -> None:
    cli("policy", "create", "recent")
    asyncio.run(_old_events(database_url, timedelta(days=500), timedelta(days=400), timedelta(days=30)))
    out = cli("audit", "prune", "--older-than", "365d")
    assert re.fullmatch(r"deleted 2 audit events from before \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00\n", out), (
        out
    )
    events = cli.json("audit", "list")
    assert isinstance(events, list)
    assert [e["action"] for e in events][:2] == ["audit.prune", "policy.create"]
    assert events[0]["target"] == {"kind": "audit", "id": None}
    assert {e["target"]["id"] for e in events if e["action"] == "policy.update"} == {"old-30"}
    assert events[0]["actor"] == {"kind": "shell", "name": getpass.getuser(), "id": None}
    assert events[0]["detail"]["deleted"] == 2
    again = cli.json("audit", "prune", "--older-than", "365d")
    assert isinstance(again, dict) and again["deleted"] == 0


def test_a_bad_prune_duration_is_one_error_line(cli: CLI) -> None:
    for bad in ("forever", "0d"):
        message = cli("audit", "prune", "--older-than", bad, expect=1)
        assert message.startswith(f"error: --older-than: '{bad}'") and message.count("\n") == 1, message
    with pytest.raises(SystemExit) as usage:  # the option is required: a usage error, exit 2
        cli("audit", "prune")
    assert usage.value.code == 2


def test_a_restore_from_the_shell_is_a_row_of_the_os_user_in_the_restored_log(
    tmp_path: Path, empty_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = CLI(tmp_path / "data", empty_database_url, capsys)
    cli("ca", "create-root", "corp-root")
    backup = tmp_path / "all.backup"
    cli("backup", str(backup))
    assert cli("restore", str(backup), "--force").startswith("restored ")
    (event,) = cli.json("audit", "list", "--action", "database")  # type: ignore[misc]
    assert event["action"] == "database.restore" and event["detail"]["file"] == str(backup)
    assert event["actor"] == {"kind": "shell", "name": getpass.getuser(), "id": None}


async def _acme_certificate(data_dir: Path, database_url: str) -> str:
    """A certificate as an ACME client holds it (its own key, enrollment acme), issued by the services."""
    rt = await open_runtime(load_settings({"data_dir": str(data_dir), "database": database_url}, {}))
    try:
        await bootstrap.ensure_dev_setup(rt)  # the dev CAs and the `default` profile
        key = generate_key(KeyAlgorithm.EC_prime256v1)
        names = Subject(common_name="acme.example.internal"), SubjectAltNames(dns=("acme.example.internal",))
        csr = build_csr(*names, key).public_bytes(Encoding.PEM)
        cert = await issuance.issue_certificate(rt, profile="default", csr_pem=csr, enrollment="acme")
    finally:
        await rt.storage.close()
    return cert.id


def test_renew_now_from_the_shell_is_a_row_of_the_os_user(
    cli: CLI, tmp_path: Path, database_url: str
) -> None:
    certificate_id = asyncio.run(_acme_certificate(tmp_path / "data", database_url))
    assert "renewal-requested" in cli("cert", "request-renewal", certificate_id)
    (event,) = cli.json("audit", "list", "--action", "certificate.renew_now")  # type: ignore[misc]
    assert (event["target"], event["detail"]["how"]) == (
        {"kind": "certificate", "id": certificate_id},
        "renewalInfo",
    )
    assert event["actor"] == {"kind": "shell", "name": getpass.getuser(), "id": None}


async def _prune_rows(data_dir: Path) -> list[dict[str, object]]:
    rt = await open_runtime(load_settings({"data_dir": str(data_dir)}, {}))
    try:
        events, _ = await audit.list_events(rt, action="audit.prune")
    finally:
        await rt.storage.close()
    return [event.as_dict() for event in events]


def test_a_server_with_audit_retention_prunes_at_start(tmp_path: Path) -> None:
    """`serve --audit-retention 30d`: each worker's pruner runs a pass at start (then hourly; at most
    one a day prunes)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    asyncio.run(
        _old_events(f"sqlite:///{data_dir / 'acme-server.db'}", timedelta(days=40), timedelta(days=2))
    )
    server = Server(data_dir, "--audit-retention", "30d")
    try:
        deadline = time.monotonic() + 30
        while not (rows := asyncio.run(_prune_rows(data_dir))) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        server.stop()
    (row,) = rows
    assert row["actor"] == {"kind": "system", "name": "audit retention", "id": None}
    assert row["detail"]["deleted"] == 1  # type: ignore[index]
