"""CA use-cases: roots, intermediates, the offline-root flow, disabling; checked with openssl."""

from __future__ import annotations

from pathlib import Path

import pytest

from acme_server.errors import Conflict, NotFound
from acme_server.services.config import ca_creation, cas
from acme_server.services.platform import audit
from acme_server.services.runtime import Runtime
from ca_core.authority import CASettings
from ca_core.errors import InvalidSetting
from ca_core.keys import KeyAlgorithm
from ca_core.request import Subject
from tests.tools import openssl, write


async def test_root_and_intermediate_verify_with_openssl(rt: Runtime, tmp_path: Path) -> None:
    root = await ca_creation.create_root_ca(
        rt,
        name="corp-root",
        subject=Subject(common_name="Corp Root", organization="Corp"),
        key_algorithm=KeyAlgorithm.EC_secp384r1,
        settings=CASettings(max_path_length=1),
    )
    inter = await ca_creation.create_intermediate_ca(
        rt,
        parent="corp-root",
        name="corp-issuing",
        subject=Subject(common_name="Corp Issuing"),
        key_algorithm=KeyAlgorithm.RSA_3072,
        settings=CASettings(max_path_length=0),
    )
    assert root.kind == "root" and inter.parent_id == root.id and inter.chain_pem == root.certificate_pem
    rootfile = write(tmp_path / "root.pem", root.certificate_pem or "")
    openssl("verify", "-CAfile", rootfile, write(tmp_path / "inter.pem", inter.certificate_pem or ""))
    text = openssl("x509", "-in", tmp_path / "inter.pem", "-noout", "-text").stdout
    assert "pathlen:0" in text
    assert f"{rt.public_url}/crl/{root.id}.crl" in text  # the parent's CRL distribution point


async def test_names_are_unique(rt: Runtime) -> None:
    await ca_creation.create_root_ca(rt, name="dup", subject=Subject(common_name="Dup"))
    with pytest.raises(Conflict, match="dup"):
        await ca_creation.create_root_ca(rt, name="dup", subject=Subject(common_name="Dup"))


async def test_unknown_parent_is_not_found(rt: Runtime) -> None:
    with pytest.raises(NotFound):
        await ca_creation.create_intermediate_ca(
            rt, parent="nope", name="x", subject=Subject(common_name="x")
        )


async def test_offline_root_signs_our_csr_and_the_import_completes_the_ca(
    rt: Runtime, tmp_path: Path
) -> None:
    pending = await ca_creation.create_external_ca(
        rt, name="offline-issued", subject=Subject(common_name="Offline Issued")
    )
    assert pending.status == "pending" and pending.csr_pem
    # The "offline root", made with the openssl CLI as an operator would.
    openssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        tmp_path / "offline.key",
        "-out",
        tmp_path / "offline.pem",
        "-days",
        "3650",
        "-subj",
        "/CN=Offline Root",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    write(
        tmp_path / "ext.cnf",
        "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n",
    )
    openssl(
        "x509",
        "-req",
        "-in",
        write(tmp_path / "ca.csr", pending.csr_pem),
        "-CA",
        tmp_path / "offline.pem",
        "-CAkey",
        tmp_path / "offline.key",
        "-CAcreateserial",
        "-out",
        tmp_path / "signed.pem",
        "-days",
        "1000",
        "-extfile",
        tmp_path / "ext.cnf",
    )
    with pytest.raises(InvalidSetting):  # a chain that is not its issuer
        await ca_creation.import_external_certificate(
            rt,
            "offline-issued",
            (tmp_path / "signed.pem").read_bytes(),
            (tmp_path / "signed.pem").read_bytes(),
        )
    done = await ca_creation.import_external_certificate(
        rt, "offline-issued", (tmp_path / "signed.pem").read_bytes(), (tmp_path / "offline.pem").read_bytes()
    )
    assert done.status == "active" and done.not_after is not None
    (imported,), _ = await audit.list_events(rt, action="ca.import_certificate")  # the refusal wrote none
    assert (imported.target_id, imported.detail) == (done.id, {"name": "offline-issued"})
    with pytest.raises(Conflict):
        await ca_creation.import_external_certificate(
            rt,
            "offline-issued",
            (tmp_path / "signed.pem").read_bytes(),
            (tmp_path / "offline.pem").read_bytes(),
        )
    authority = await cas.load_authority(rt, "offline-issued")
    assert authority.enabled and len(authority.chain) == 1


async def test_disable_and_enable(rt: Runtime) -> None:
    await ca_creation.create_root_ca(rt, name="r", subject=Subject(common_name="R"))
    assert (await cas.set_ca_enabled(rt, "r", False)).status == "disabled"
    assert not (await cas.load_authority(rt, "r")).enabled
    assert (await cas.set_ca_enabled(rt, "r", True)).status == "active"
