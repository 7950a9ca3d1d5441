"""Syncs (services/delivery/syncs.py, acme_server/destinations) on SQLite and PostgreSQL: the directory
destination checked with openssl and file modes, its reload command, pushes on issuance, renewal and on
demand, errors recorded on the sync, and AWS Certificate Manager through boto3 against moto's server
mode on loopback (import, then re-import into the same ARN)."""

from __future__ import annotations

import asyncio
import secrets
import socket
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from acme_server.destinations import DestinationHost
from acme_server.errors import NotFound
from acme_server.services import issuance
from acme_server.services.config import cas
from acme_server.services.delivery import pushes, syncs
from acme_server.services.inventory import export
from acme_server.services.inventory.certificates import CertificateInfo
from acme_server.services.issuance import ManagedRequest
from acme_server.services.renewal.now import renew_certificate
from acme_server.services.runtime import Runtime
from acme_server.storage import Storage
from ca_core.errors import InvalidSetting
from ca_core.export import load_certificates_pem
from ca_core.keys import KeyAlgorithm
from ca_core.request import Subject, SubjectAltNames
from tests.services.test_certificates import _csr_pem
from tests.tools import openssl, write

AWS_SECRETS = {"accessKeyId": "AKIAEXAMPLESYNC", "secretAccessKey": "sync-secret-value-0123456789"}


async def issue(
    rt: Runtime, name: str, *, algorithm: KeyAlgorithm = KeyAlgorithm.EC_prime256v1
) -> CertificateInfo:
    return await issuance.issue_certificate(
        rt,
        profile="default",
        managed=ManagedRequest(Subject(common_name=name), SubjectAltNames(dns=(name,)), algorithm),
        ttl=timedelta(days=30),
    )


def _public_key(*args: str | Path) -> str:
    return openssl(*args).stdout


def check_directory(directory: Path, root_pem: str, cert: CertificateInfo) -> None:
    """What nginx or Apache would load: the files verify, the key matches, modes are right."""
    assert sorted(p.name for p in directory.iterdir()) == [
        "cert.pem",
        "chain.pem",
        "fullchain.pem",
        "privkey.pem",
    ]
    assert (directory / "cert.pem").read_text() == cert.certificate_pem
    assert (directory / "fullchain.pem").read_text() == cert.certificate_pem + cert.chain_pem
    root = write(directory.parent / "root.pem", root_pem)
    openssl("verify", "-CAfile", root, "-untrusted", directory / "chain.pem", directory / "cert.pem")
    openssl("verify", "-CAfile", root, "-untrusted", directory / "fullchain.pem", directory / "fullchain.pem")
    assert _public_key("x509", "-in", directory / "cert.pem", "-noout", "-pubkey") == _public_key(
        "pkey", "-in", directory / "privkey.pem", "-pubout"
    )
    assert stat.S_IMODE((directory / "privkey.pem").stat().st_mode) == 0o600
    for name in ("cert.pem", "chain.pem", "fullchain.pem"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o644


async def root_pem(rt: Runtime) -> str:
    return (await cas.get_ca(rt, "dev-root")).certificate_pem or ""


async def test_directory_sync_writes_files_openssl_accepts_and_follows_renewals(
    dev: Runtime, tmp_path: Path
) -> None:
    cert = await issue(dev, "web.example.internal", algorithm=KeyAlgorithm.RSA_2048)
    target = tmp_path / "tls" / "web"
    sync = await syncs.create_sync(
        dev, name="web-nginx", destination_type="directory", config={"path": str(target)}, certificate=cert.id
    )
    assert sync.last_status == "ok" and sync.last_error is None and sync.last_certificate_id == cert.id
    assert sync.destination_state == {"path": str(target), "serial": cert.serial}
    assert stat.S_IMODE(target.stat().st_mode) == 0o700  # created for a private key
    check_directory(target, await root_pem(dev), cert)

    successor = await renew_certificate(dev, cert.id, actor="test")
    after = await syncs.get_sync(dev, "web-nginx")
    assert after.certificate_id == successor.id and after.last_certificate_id == successor.id
    check_directory(target, await root_pem(dev), successor)
    assert (target / "privkey.pem").read_text() == (await export.export_pem(dev, successor.id)).private_key

    # On demand: the files are rewritten (here: restored after someone removed them).
    (target / "cert.pem").unlink()
    again = await pushes.run_sync(dev, sync.id)
    assert again.last_status == "ok" and (target / "cert.pem").read_text() == successor.certificate_pem


async def test_a_profile_sync_pushes_each_newly_issued_certificate(dev: Runtime, tmp_path: Path) -> None:
    sync = await syncs.create_sync(
        dev,
        name="latest",
        destination_type="directory",
        config={"path": str(tmp_path / "latest")},
        profile="default",
    )
    assert (
        sync.last_status == "failed"
        and sync.last_error is not None
        and "no active certificate" in sync.last_error
    )
    first = await issue(dev, "one.example.internal")
    assert (tmp_path / "latest" / "cert.pem").read_text() == first.certificate_pem
    second = await issue(dev, "two.example.internal")
    assert (tmp_path / "latest" / "cert.pem").read_text() == second.certificate_pem
    listed = await syncs.list_syncs(dev, profile="default")
    assert [(s.name, s.last_status, s.last_certificate_id) for s in listed] == [("latest", "ok", second.id)]


async def test_a_csr_certificate_is_written_without_a_key(dev: Runtime, tmp_path: Path) -> None:
    cert = await issuance.issue_certificate(dev, profile="default", csr_pem=_csr_pem("csr.example.internal"))
    await syncs.create_sync(
        dev,
        name="csr",
        destination_type="directory",
        config={"path": str(tmp_path / "csr")},
        certificate=cert.id,
    )
    assert sorted(p.name for p in (tmp_path / "csr").iterdir()) == ["cert.pem", "chain.pem", "fullchain.pem"]


async def test_the_reload_command_runs_after_writing_and_its_failure_is_recorded(
    dev: Runtime, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cert = await issue(dev, "reload.example.internal")
    marker = tmp_path / "reloaded"
    dev.host = DestinationHost(
        {
            "copy": ("sh", "-c", f"cat {tmp_path / 'a' / 'cert.pem'} > {marker}"),
            "bad-config": ("sh", "-c", "echo nginx: bad config >&2; exit 3"),
            "slow": ("sleep", "5"),
            "missing": ("/nonexistent/reload",),
        },
        run_as_root=True,
    )
    ok = await syncs.create_sync(
        dev,
        name="reload-ok",
        destination_type="directory",
        config={"path": str(tmp_path / "a"), "reloadCommand": "copy"},
        certificate=cert.id,
    )
    assert ok.last_status == "ok" and marker.read_text() == cert.certificate_pem
    failing = await syncs.create_sync(
        dev,
        name="reload-fails",
        destination_type="directory",
        config={"path": str(tmp_path / "b"), "reloadCommand": "bad-config"},
        certificate=cert.id,
    )
    assert failing.last_status == "failed"
    assert failing.last_error == (
        "files written, but reload command 'bad-config' exited 3 (its output is in the server log)"
    )
    assert "nginx: bad config" in caplog.text  # the operator finds the output in the server log
    assert (tmp_path / "b" / "cert.pem").exists()
    slow = await syncs.create_sync(
        dev,
        name="reload-slow",
        destination_type="directory",
        config={"path": str(tmp_path / "c"), "reloadCommand": "slow", "reloadTimeout": 0.3},
        certificate=cert.id,
    )
    assert slow.last_error == "files written, but reload command 'slow' timed out after 0.3s"
    missing = await syncs.create_sync(
        dev,
        name="reload-missing",
        destination_type="directory",
        config={"path": str(tmp_path / "d"), "reloadCommand": "missing"},
        certificate=cert.id,
    )
    assert missing.last_error == (
        "files written, but reload command 'missing' did not start (see the server log)"
    )
    assert (await pushes.run_sync(dev, "reload-ok")).last_status == "ok"


async def test_an_unwritable_directory_is_a_recorded_failure(dev: Runtime, tmp_path: Path) -> None:
    cert = await issue(dev, "ro.example.internal")
    locked = write(tmp_path / "locked", "a file where a directory should be")  # (root ignores modes)
    sync = await syncs.create_sync(
        dev,
        name="ro",
        destination_type="directory",
        config={"path": str(locked / "sub")},
        certificate=cert.id,
    )
    assert sync.last_status == "failed" and sync.last_error is not None
    assert sync.last_error == f"cannot write to {locked / 'sub'}: Not a directory"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"destination_type": "ftp", "config": {}}, "destinationType"),
        ({"config": {"path": "relative/dir"}}, "config.path"),
        ({"config": {}}, "config.path"),
        ({"config": {"path": "/tmp/x", "owner": "nginx"}}, "config.owner"),
        ({"config": {"path": "/tmp/x", "reloadCommand": ""}}, "config.reloadCommand"),
        ({"config": {"path": "/tmp/x", "reloadTimeout": 0}}, "config.reloadTimeout"),
        ({"config": {"path": "/tmp/x"}, "secrets": {"password": "x"}}, "secrets"),
        ({"config": {"path": "/tmp/x"}, "name": "bad name"}, "name"),
        ({"config": {"path": "/tmp/x"}, "profile": "default"}, "target"),
        ({"destination_type": "aws-acm", "config": {"endpointUrl": "http://127.0.0.1:1"}}, "config.region"),
        (
            {
                "destination_type": "aws-acm",
                "config": {"region": "eu-west-1"},
                "secrets": {"accessKeyId": "A"},
            },
            "secrets",
        ),
        (
            {"destination_type": "aws-acm", "config": {"region": "eu-west-1"}, "secrets": {"token": "A"}},
            "secrets.token",
        ),
        (
            {"destination_type": "aws-acm", "config": {"region": "x", "endpointUrl": "ftp://h"}},
            "config.endpointUrl",
        ),
    ],
)
async def test_invalid_syncs_are_refused_naming_the_field(
    dev: Runtime, kwargs: dict[str, Any], field: str
) -> None:
    cert = await issue(dev, "bad.example.internal")
    options: dict[str, Any] = {"name": "s", "destination_type": "directory", "certificate": cert.id} | kwargs
    with pytest.raises(InvalidSetting) as raised:
        await syncs.create_sync(dev, **options)
    assert raised.value.field == field
    assert await syncs.list_syncs(dev) == []


async def test_unknown_certificate_profile_and_sync_are_not_found(dev: Runtime) -> None:
    with pytest.raises(NotFound, match="no certificate 'nope'"):
        await syncs.create_sync(
            dev, name="s", destination_type="directory", config={"path": "/tmp/x"}, certificate="nope"
        )
    with pytest.raises(NotFound, match="no profile 'nope'"):
        await syncs.create_sync(
            dev, name="s", destination_type="directory", config={"path": "/tmp/x"}, profile="nope"
        )
    for call in (syncs.get_sync, pushes.run_sync, syncs.delete_sync):
        with pytest.raises(NotFound, match="no sync 'missing'"):
            await call(dev, "missing")


# --- AWS Certificate Manager against moto's server on loopback ------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def acm(endpoint: str) -> Any:
    return boto3.session.Session().client(
        "acm",
        region_name="eu-west-1",
        endpoint_url=endpoint,
        aws_access_key_id=AWS_SECRETS["accessKeyId"],
        aws_secret_access_key=AWS_SECRETS["secretAccessKey"],
    )


async def test_aws_acm_imports_then_reimports_into_the_same_arn(
    dev: Runtime, moto_endpoint: str, storage: Storage
) -> None:
    cert = await issue(dev, "lb.example.internal", algorithm=KeyAlgorithm.RSA_2048)
    sync = await syncs.create_sync(
        dev,
        name="acm-lb",
        destination_type="aws-acm",
        config={"region": "eu-west-1", "endpointUrl": moto_endpoint, "tags": {"team": "payments"}},
        secrets=AWS_SECRETS,
        certificate=cert.id,
    )
    assert sync.last_status == "ok", sync.last_error
    arn = sync.destination_state["certificateArn"]
    assert arn.startswith("arn:aws:acm:eu-west-1:")
    client = acm(moto_endpoint)
    described = client.describe_certificate(CertificateArn=arn)["Certificate"]
    assert described["DomainName"] == "lb.example.internal" and described["Type"] == "IMPORTED"
    serial = described["Serial"]  # AWS writes colon-separated hex, moto a decimal number
    assert (int(serial.replace(":", ""), 16) if ":" in serial else int(serial)) == int(cert.serial, 16)
    stored = client.get_certificate(CertificateArn=arn)
    assert stored["Certificate"].strip() == cert.certificate_pem.strip()
    # Our chain, in order (moto appends a CA certificate of its own after it).
    ours = load_certificates_pem(cert.chain_pem.encode())
    assert load_certificates_pem(stored["CertificateChain"].encode())[: len(ours)] == ours
    assert client.list_tags_for_certificate(CertificateArn=arn)["Tags"] == [
        {"Key": "team", "Value": "payments"}
    ]

    successor = await renew_certificate(dev, cert.id, actor="test")
    after = await syncs.get_sync(dev, "acm-lb")
    assert after.last_status == "ok" and after.destination_state["certificateArn"] == arn
    assert (
        client.get_certificate(CertificateArn=arn)["Certificate"].strip() == successor.certificate_pem.strip()
    )
    assert len(client.list_certificates()["CertificateSummaryList"]) >= 1
    assert [c["CertificateArn"] for c in client.list_certificates()["CertificateSummaryList"]].count(arn) == 1

    # Secrets are sealed at rest and never part of what is listed.
    listed = await syncs.list_syncs(dev, certificate=successor.id)
    assert [s.has_secrets for s in listed] == [True]
    assert AWS_SECRETS["secretAccessKey"] not in repr(listed)
    async with storage.read() as tx:
        record = await tx.syncs.get(sync.id)
    assert record is not None and record.sealed_secrets is not None
    assert AWS_SECRETS["secretAccessKey"].encode() not in record.sealed_secrets


async def test_two_workers_pushing_one_new_acm_sync_import_it_once(
    dev: Runtime, moto_endpoint: str, database_url: str
) -> None:
    name = f"once-{secrets.token_hex(4)}.example.internal"  # the moto server outlives this test
    cert = await issue(dev, name, algorithm=KeyAlgorithm.RSA_2048)
    sync = await syncs.create_sync(
        dev,
        name="acm-once",
        destination_type="aws-acm",
        config={"region": "eu-west-1", "endpointUrl": moto_endpoint},
        secrets=AWS_SECRETS,
        certificate=cert.id,
        push=False,
    )
    assert sync.last_status == "never" and sync.destination_state == {}
    other = await Storage.open(database_url)
    try:
        replica = Runtime(storage=other, kek=dev.kek, public_url=dev.public_url)
        results = await asyncio.gather(
            *(pushes.run_sync(rt, "acm-once") for rt in (dev, replica, dev, replica))
        )
    finally:
        await other.close()
    arns = {r.destination_state["certificateArn"] for r in results}
    assert len(arns) == 1 and {r.last_status for r in results} == {"ok"}
    summaries = acm(moto_endpoint).list_certificates()["CertificateSummaryList"]
    assert [c["DomainName"] for c in summaries].count(name) == 1


async def test_aws_acm_failures_are_recorded_with_the_reason(dev: Runtime, moto_endpoint: str) -> None:
    from_csr = await issuance.issue_certificate(
        dev, profile="default", csr_pem=_csr_pem("csr.example.internal")
    )
    sync = await syncs.create_sync(
        dev,
        name="acm-csr",
        destination_type="aws-acm",
        config={"region": "eu-west-1", "endpointUrl": moto_endpoint},
        secrets=AWS_SECRETS,
        certificate=from_csr.id,
    )
    assert sync.last_status == "failed" and sync.last_error is not None
    assert "ACM needs its private key" in sync.last_error
    cert = await issue(dev, "gone.example.internal")
    unreachable = await syncs.create_sync(
        dev,
        name="acm-down",
        destination_type="aws-acm",
        config={"region": "eu-west-1", "endpointUrl": f"http://127.0.0.1:{_free_port()}"},
        secrets=AWS_SECRETS,
        certificate=cert.id,
    )
    assert unreachable.last_status == "failed" and unreachable.last_error is not None
    assert unreachable.last_error.startswith("ACM import failed: Could not connect to the endpoint URL")
    missing_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
    wrong = await syncs.create_sync(
        dev,
        name="acm-wrong-arn",
        destination_type="aws-acm",
        config={"region": "eu-west-1", "endpointUrl": moto_endpoint, "certificateArn": missing_arn},
        secrets=AWS_SECRETS,
        certificate=cert.id,
    )
    assert wrong.last_status == "failed" and wrong.last_error is not None
    assert wrong.last_error.startswith("ACM refused the import: ResourceNotFoundException")
