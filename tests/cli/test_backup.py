"""`acme-server backup` / `restore` (docs/backup.md): a backup taken while ACME orders run restores
into a fresh database that serves the same CAs, certificates, accounts and CRL numbers; a SQLite
backup restores into PostgreSQL and back; bad input is one line, exit 1, and the target unchanged."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from acme_server.app import create_app
from acme_server.config import Settings, load_settings
from acme_server.services.config import cas
from acme_server.services.renewal.now import renew_certificate
from acme_server.services.runtime import Runtime, open_runtime
from acme_server.services.status import crls
from acme_server.storage import Storage
from acme_server.storage.tables import acme_orders, certificates
from acme_server.storage.tables import crls as crl_table
from tests.acme.client import Client
from tests.acme.conftest import AcmeServer, acme, acme_overrides  # noqa: F401  (fixtures used here)
from tests.acme.test_issuance_flow import _issue
from tests.cli.test_cli import CLI
from tests.conftest import new_empty_database
from tests.servers import serving
from tests.validation.responders import unused_port


def _rows(path: Path) -> list[Any]:
    """Every table and row line of a backup file (without its header and end record, which name the
    engine, the time and the checksum)."""
    lines = [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
    assert lines[0]["format"] == "acme-server-backup" and "end" in lines[-1]
    return lines[1:-1]


def _restores_apart(rows: list[Any]) -> tuple[list[Any], list[list[Any]]]:
    """The rows without the audit rows restores added (each restore records itself in the restored
    database), and those rows."""
    kept: list[Any] = []
    restores: list[list[Any]] = []
    action: int | None = None
    for line in rows:
        if isinstance(line, dict):
            names = [column[0] for column in line["columns"]]
            action = names.index("action") if line["table"] == "audit_events" else None
        elif action is not None and line[action] == "database.restore":
            restores.append(line)
            continue
        kept.append(line)
    return kept, restores


def _table(rows: list[Any], name: str) -> list[list[Any]]:
    """The rows of one table in a backup, from _rows."""
    found: list[list[Any]] | None = None
    for line in rows:
        if isinstance(line, dict):
            if found is not None:
                break
            if line["table"] == name:
                found = []
        elif found is not None:
            found.append(line)
    assert found is not None, name
    return found


async def _cli(*args: str) -> tuple[int, str]:
    """`acme-server ARGS` in a process of its own (so it runs while this loop serves ACME)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "acme_server.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode()


async def _snapshot(rt: Runtime) -> dict[str, Any]:
    """What the restore must bring back, read through the services and storage."""
    authorities = sorted((ca.id, ca.name, ca.certificate_pem) for ca in await cas.list_cas(rt))
    async with rt.storage.read() as tx:
        crl_numbers = {ca_id: (await tx.cas.get(ca_id)).crl_number for ca_id, _, _ in authorities}  # type: ignore[union-attr]
    engine = rt.storage.write_engine
    async with engine.connect() as connection:
        issued = {
            row.id: (row.serial, row.certificate_pem)
            for row in await connection.execute(
                select(certificates.c.id, certificates.c.serial, certificates.c.certificate_pem)
            )
        }
        crl_rows = {
            (row.ca_id, row.number): row.der
            for row in await connection.execute(
                select(crl_table.c.ca_id, crl_table.c.number, crl_table.c.der)
            )
        }
        orders = {
            row.id: (row.status, row.certificate_id)
            for row in await connection.execute(
                select(acme_orders.c.id, acme_orders.c.status, acme_orders.c.certificate_id)
            )
        }
    return {
        "cas": authorities,
        "crl_numbers": crl_numbers,
        "crls": crl_rows,
        "certificates": issued,
        "orders": orders,
    }


async def test_a_backup_under_load_restores_the_same_cas_certificates_accounts_and_crl_numbers(
    acme: AcmeServer,  # noqa: F811  (the fixture imported above)
    database_engine: str,
    database_url: str,
    empty_database_url: str,
    tmp_path: Path,
) -> None:
    intermediate = next(ca for ca in await cas.list_cas(acme.rt) if ca.kind == "intermediate")
    first_client, first_order, _ = await _issue(acme, "before.backup.example.internal")
    await crls.generate_crl(acme.rt, intermediate.id)
    await crls.generate_crl(acme.rt, intermediate.id)

    stop = asyncio.Event()
    issued: list[str] = []

    async def worker(number: int) -> None:  # one client after another, until the backup is done
        while not stop.is_set():
            _, order, _ = await _issue(acme, f"w{number}-{len(issued)}.load.example.internal")
            issued.append(str(order["certificate"]))

    workers = asyncio.gather(*(worker(n) for n in range(3)))
    while not issued:
        await asyncio.sleep(0.05)
    backup_file = tmp_path / "acme.backup"
    before_backup, before = len(issued), await _snapshot(acme.rt)
    code, out = await _cli("backup", "--database", database_url, str(backup_file))
    assert code == 0, out
    assert len(issued) > before_backup, "orders completed while the backup ran"
    stop.set()
    await workers
    assert backup_file.stat().st_mode & 0o777 == 0o600
    after = await _snapshot(acme.rt)
    nonce_before_restore = await first_client.nonce()

    code, out = await _cli("restore", "--database", empty_database_url, str(backup_file))
    assert code == 0, out
    assert out.startswith("restored ") and "(schema " in out
    restored_storage = await Storage.open(empty_database_url)
    port = unused_port()
    rt = Runtime(storage=restored_storage, kek=acme.rt.kek, public_url=f"https://127.0.0.1:{port}")
    try:
        restored = await _snapshot(rt)
        # The same CAs (ids, names, certificates) and CRL numbers as when the backup was taken.
        assert restored["cas"] == after["cas"]
        # The CRLs are the ones signed before the backup (the server's CRL updater may add some), and
        # each CA's counter is at its newest CRL.
        assert restored["crls"].items() <= after["crls"].items()
        numbers = [number for ca_id, number in restored["crls"] if ca_id == intermediate.id]
        assert len(numbers) >= 2 and restored["crl_numbers"][intermediate.id] == max(numbers)
        # Every certificate in the backup is one the server issued, same serial and PEM.
        assert restored["certificates"].items() <= after["certificates"].items()
        assert len(restored["certificates"]) >= 1
        # Every order the backup holds as valid has its certificate; the first one is there.
        assert first_order["certificate"].rsplit("/", 1)[-1] in restored["certificates"]
        # Taken mid-flight: more than before it started, and the server went on writing after it.
        assert len(restored["orders"]) >= len(before["orders"]) and restored["orders"] != after["orders"]
        for order_id, (status, certificate_id) in restored["orders"].items():
            assert order_id in after["orders"]
            if status == "valid":
                assert certificate_id in restored["certificates"]
        # The next CRL continues the numbering; it never repeats one.
        next_crl = await crls.generate_crl(rt, intermediate.id)
        assert next_crl.number == max(numbers) + 1
        # A second backup of the restored database holds exactly the same rows.
        again = tmp_path / "again.backup"
        code, out = await _cli("backup", "--database", empty_database_url, str(again))
        assert code == 0, out
        rows, restored_rows = _rows(backup_file), _rows(again)
        assert _table(rows, "acme_accounts") == _table(restored_rows, "acme_accounts")
        assert _table(rows, "certificates") == _table(restored_rows, "certificates")

        # A server on the restored database knows the account and serves its certificate.
        settings = Settings(listen=f"127.0.0.1:{port}", data_dir=tmp_path / "restored", renewal_interval=0)
        tls = tmp_path / "tls"
        served_app = serving(
            create_app(settings, runtime=rt),
            port,
            ssl_certfile=str(tls / "server.pem"),
            ssl_keyfile=str(tls / "server.key"),
        )
        trust = ssl.create_default_context(cafile=str(tmp_path / "root.pem"))
        async with served_app, httpx.AsyncClient(verify=trust, timeout=30) as http:
            client = await Client(
                http, f"https://127.0.0.1:{port}/acme/directory", key=first_client.key
            ).load()
            existing = await client.register(onlyReturnExisting=True)
            assert existing.status_code == 200, existing.text
            assert existing.headers["Location"].rsplit("/", 1)[-1] == first_client.kid.rsplit("/", 1)[-1]  # type: ignore[union-attr]
            certificate_url = str(first_order["certificate"]).replace(acme.url, f"https://127.0.0.1:{port}")
            if database_engine == "postgresql":  # docs/backup.md: the used-nonce table restarts now
                stale = await client.post(certificate_url, nonce=nonce_before_restore)
                assert (
                    stale.status_code == 400 and stale.json()["type"] == "urn:ietf:params:acme:error:badNonce"
                )
            served = await client.post(certificate_url)
            assert served.status_code == 200, served.text
            assert served.text == (await first_client.post(str(first_order["certificate"]))).text
    finally:
        await restored_storage.close()


@pytest.fixture
def _other_engine(database_engine: str, request: pytest.FixtureRequest) -> str:
    """The engine `database_url` is not on (PostgreSQL reachable, as database_engine checks it)."""
    if database_engine == "sqlite":
        request.getfixturevalue("_postgres_server")
        return "postgresql"
    return "sqlite"


@pytest.fixture
async def other_engine_url(_other_engine: str, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database on the other engine than `database_url`'s."""
    async with new_empty_database(_other_engine, tmp_path / "other.db") as url:
        yield url


async def _renew(data_dir: Path, database_url: str, certificate_id: str) -> str:
    rt = await open_runtime(load_settings({"data_dir": str(data_dir), "database": database_url}, {}))
    try:
        return (await renew_certificate(rt, certificate_id, actor="test")).id
    finally:
        await rt.storage.close()


def _populate(cli: CLI, data_dir: Path, database_url: str) -> None:
    """Three CAs in a chain, a profile, a certificate and its renewal (rows that point at rows of their
    own table), a revocation and two CRLs."""
    cli("ca", "create-root", "corp-root")
    cli("ca", "create-intermediate", "corp-issuing", "--parent", "corp-root")
    cli("ca", "create-intermediate", "corp-leaf-issuing", "--parent", "corp-issuing")
    cli("profile", "create", "web", "--ca", "corp-leaf-issuing")
    issued = cli.json(
        "cert", "issue", "--profile", "web", "--cn", "a.example.internal", "--dns", "a.example.internal"
    )
    assert isinstance(issued, dict)
    successor = asyncio.run(_renew(data_dir, database_url, str(issued["id"])))
    cli("cert", "revoke", successor, "--reason", "KEY_COMPROMISE")
    cli("ca", "crl", "corp-leaf-issuing", "--out", str(data_dir.parent / "crl.pem"))
    cli("ca", "crl", "corp-leaf-issuing", "--out", str(data_dir.parent / "crl.pem"))


@pytest.mark.postgres
def test_a_backup_restores_into_the_other_engine_and_back_with_the_same_rows(
    database_url: str, other_engine_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    cli = CLI(data_dir, database_url, capsys)
    _populate(cli, data_dir, database_url)
    first, second, back = tmp_path / "first.backup", tmp_path / "second.backup", tmp_path / "back.db"
    cli("backup", str(first))
    CLI(data_dir, other_engine_url, capsys)("restore", str(first))
    CLI(data_dir, other_engine_url, capsys)("backup", str(second))
    CLI(data_dir, f"sqlite:///{back}", capsys)("restore", str(second))
    rows = _rows(first)
    same, restores = _restores_apart(_rows(second))
    assert rows == same and len(restores) == 1  # the first restore is one audit row of its own
    assert len(_table(rows, "cas")) == 3 and len(_table(rows, "certificates")) == 2
    assert len(_table(rows, "revocations")) == 1
    numbers = [row[2] for row in _table(rows, "crls")]  # ca_id, number, ...: the revocation's and ours
    assert sorted(numbers) == list(range(1, len(numbers) + 1)) and len(numbers) >= 2
    # The restored copies serve the same certificates and continue the CRL numbering.
    for url in (other_engine_url, f"sqlite:///{back}"):
        other = CLI(data_dir, url, capsys)
        assert other.json("cert", "list") == cli.json("cert", "list")
        crl = other.json("ca", "crl", "corp-leaf-issuing", "--out", str(tmp_path / "next.pem"))
        assert isinstance(crl, dict) and crl["number"] == max(numbers) + 1


def _rewritten(source: Path, target: Path, change: Any) -> Path:
    """A copy of a backup with its JSON lines changed by `change(lines) -> lines`, gzip'd again."""
    lines = gzip.decompress(source.read_bytes()).splitlines()
    target.write_bytes(gzip.compress(b"\n".join(change(lines)) + b"\n"))
    return target


def test_restore_refuses_bad_input_and_leaves_the_target_as_it_was(
    empty_database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A database of the test's own: a restore drops and rebuilds the tables (tests/conftest.py).
    data_dir = tmp_path / "data"
    cli = CLI(data_dir, empty_database_url, capsys)
    cli("ca", "create-root", "corp-root")
    backup = tmp_path / "good.backup"
    cli("backup", str(backup))
    before = _rows(backup)

    def unchanged() -> None:
        cli("backup", str(tmp_path / "now.backup"))
        assert _rows(tmp_path / "now.backup") == before

    # A database that holds data: refused without --force.
    assert cli("restore", str(backup), expect=1) == (
        "error: the target database is not empty (table audit_events has rows); restore into an empty "
        "database, or pass --force to replace everything in it\n"
    )
    unchanged()

    def tamper(lines: list[bytes]) -> list[bytes]:  # a row changed after the checksum was taken
        return [line.replace(b'"corp-root"', b'"evil-root"') for line in lines]

    def newer(lines: list[bytes]) -> list[bytes]:
        header = json.loads(lines[0])
        return [json.dumps({**header, "revision": "9999"}).encode(), *lines[1:]]

    cut = tmp_path / "cut.backup"
    cut.write_bytes(backup.read_bytes()[: len(backup.read_bytes()) // 2])
    dropped_end = _rewritten(backup, tmp_path / "noend.backup", lambda lines: lines[:-1])
    cases = {
        str(tmp_path / "missing"): f"error: cannot read {tmp_path / 'missing'}: No such file or directory",
        str(
            data_dir / "kek.key"
        ): f"error: {data_dir / 'kek.key'}: not a usable acme-server backup (Not a gzipped file",
        str(cut): f"error: {cut}: not a usable acme-server backup (Compressed file ended",
        str(
            dropped_end
        ): f"error: {dropped_end}: not a usable acme-server backup (the file ends before its end record",
        str(_rewritten(backup, tmp_path / "tampered.backup", tamper)): (
            f"error: {tmp_path / 'tampered.backup'}: not a usable acme-server backup (the checksum does not"
        ),
        str(_rewritten(backup, tmp_path / "newer.backup", newer)): (
            f"error: {tmp_path / 'newer.backup'} was written at schema revision '9999', which this release "
            "of acme-server does not know (it is newer): restore it with the release that wrote it"
        ),
    }
    for path, error in cases.items():
        # --force: the damage is found only after the target's tables were dropped and rows loaded;
        # the transaction puts everything back.
        out = cli("restore", path, "--force", expect=1)
        assert out.startswith(error) and out.count("\n") == 1, (path, out)
        unchanged()
    # The good file with --force replaces the data, and records that it did.
    assert cli("restore", str(backup), "--force").startswith("restored ")
    cli("backup", str(tmp_path / "now.backup"))
    same, restores = _restores_apart(_rows(tmp_path / "now.backup"))
    assert same == before and len(restores) == 1


def test_a_failed_backup_is_one_line_and_leaves_no_file(
    database_url: str, empty_database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = tmp_path / "no-such-dir" / "x.backup"
    cli = CLI(tmp_path / "data", database_url, capsys)
    assert (
        cli("backup", str(nowhere), expect=1) == f"error: cannot write {nowhere}: No such file or directory\n"
    )
    # A database without our schema: refused before anything is written.
    target = tmp_path / "unmigrated.backup"
    out = CLI(tmp_path / "data", empty_database_url, capsys)("backup", str(target), expect=1)
    assert out.startswith("error: the database schema is at revision None, not ") and out.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir() if "backup" in p.name) == []


async def test_a_backup_leaves_process_state_out(database_url: str) -> None:
    """Used nonces, rate-limit counters and leases are process state (docs/backup.md): not in the file."""
    import io
    from datetime import UTC, datetime

    from acme_server.storage.backup import write_backup

    storage = await Storage.open(database_url)
    try:
        await storage.rate_counters.add("new_orders_per_account:x", window_start=0, expires_at=2**40)
    finally:
        await storage.close()
    summary = await write_backup(database_url, io.BytesIO(), now=datetime.now(UTC))
    assert "certificates" in summary.rows
    assert not {"acme_nonces", "acme_rate_counters", "leases"} & set(summary.rows)
