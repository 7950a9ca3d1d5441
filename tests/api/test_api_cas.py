"""/cert-manager/cas over real HTTP: roots, intermediates, the offline-root flow (CSR out, signed
certificate in, checked by openssl), disable/enable, and the seed's List CRLs with PEM bodies."""

from __future__ import annotations

from pathlib import Path

from tests.api.conftest import CM, ApiServer, issue_managed, make_pki
from tests.ca_core.test_authority import CA_EXTENSIONS, offline_root, openssl_sign
from tests.tools import openssl, write


async def test_create_list_show_root_and_intermediate(api: ApiServer, tmp_path: Path) -> None:
    root = await api.ok(
        "POST",
        f"{CM}/cas",
        json={
            "type": "root",
            "name": "corp-root",
            "commonName": "Corp Root",
            "organization": "Corp",
            "country": "NL",
            "keyAlgorithm": "EC_secp384r1",
            "ttl": "3650d",
        },
        status=201,
    )
    assert (root["type"], root["status"], root["keyAlgorithm"], root["parentId"]) == (
        "root",
        "active",
        "EC_secp384r1",
        None,
    )
    assert root["subject"] == "CN=Corp Root,O=Corp,C=NL"
    assert root["crlUrl"] == f"{api.url}/crl/{root['id']}.crl"
    inter = await api.ok(
        "POST",
        f"{CM}/cas",
        json={"type": "intermediate", "name": "issuing", "parent": root["id"], "maxPathLength": 0},
        status=201,
    )
    assert (inter["parentId"], inter["maxPathLength"], inter["subject"]) == (root["id"], 0, "CN=issuing")
    chain = write(tmp_path / "root.pem", root["certificate"])
    openssl("verify", "-CAfile", chain, write(tmp_path / "inter.pem", inter["certificate"]))
    listed = await api.ok("GET", f"{CM}/cas", role="viewer")
    assert [ca["name"] for ca in listed["cas"]] == ["corp-root", "issuing"]
    assert await api.ok("GET", f"{CM}/cas/issuing", role="viewer") == inter
    assert await api.ok("GET", f"{CM}/cas/{inter['id']}", role="viewer") == inter


async def test_ca_errors_are_precise(api: ApiServer) -> None:
    await api.ok("POST", f"{CM}/cas", json={"type": "root", "name": "corp-root"}, status=201)
    problem = await api.problem(
        "POST", f"{CM}/cas", 409, "conflict", json={"type": "root", "name": "corp-root"}
    )
    assert problem["detail"] == "a CA named 'corp-root' already exists"
    problem = await api.problem(
        "POST", f"{CM}/cas", 400, "invalid-field", json={"type": "intermediate", "name": "i"}
    )
    assert problem["field"] == "parent"
    problem = await api.problem(
        "POST", f"{CM}/cas", 404, "not-found", json={"type": "intermediate", "name": "i", "parent": "nope"}
    )
    assert problem["detail"] == "no CA 'nope'"
    problem = await api.problem(
        "POST", f"{CM}/cas", 400, "invalid-field", json={"type": "root", "name": "r", "ttl": "soon"}
    )
    assert problem["field"] == "ttl"
    await api.problem("GET", f"{CM}/cas/nope", 404, "not-found", role="viewer")
    await api.problem("GET", f"{CM}/cas/nope/crls", 404, "not-found", role="viewer")


async def test_external_ca_csr_then_import_of_the_offline_signed_certificate(
    api: ApiServer, tmp_path: Path
) -> None:
    pending = await api.ok(
        "POST",
        f"{CM}/cas",
        json={"type": "external", "name": "offline-issued", "organization": "Corp"},
        status=201,
    )
    assert (pending["status"], pending["certificate"]) == ("pending", None)
    problem = await api.problem("POST", f"{CM}/cas/offline-issued/disable", 409, "conflict")
    assert problem["detail"] == "CA 'offline-issued' has no certificate yet; import it first"
    await api.problem("POST", f"{CM}/cas/nope/enable", 404, "not-found")
    await api.problem("GET", f"{CM}/ca/internal/nope/crls", 404, "not-found", role="viewer")
    csr = write(tmp_path / "ca.csr", pending["csr"])
    openssl("req", "-in", csr, "-noout", "-verify")
    root = offline_root(tmp_path)
    signed = openssl_sign(tmp_path, csr, root, CA_EXTENSIONS, "signed.pem")
    problem = await api.problem(
        "POST", f"{CM}/cas/offline-issued/import", 400, "invalid-field", json={"certificateChain": ""}
    )
    assert problem["field"] == "certificate"
    imported = await api.ok(
        "POST",
        f"{CM}/cas/offline-issued/import",
        json={"certificate": signed.read_text(), "certificateChain": root[0].read_text()},
    )
    assert imported["status"] == "active" and imported["certificateChain"] == root[0].read_text()
    await api.problem(
        "POST",
        f"{CM}/cas/offline-issued/import",
        409,
        "conflict",
        json={"certificate": signed.read_text(), "certificateChain": root[0].read_text()},
    )


async def test_disable_blocks_issuance_until_enabled(api: ApiServer) -> None:
    await make_pki(api)
    disabled = await api.ok("POST", f"{CM}/cas/corp-issuing/disable")
    assert disabled["status"] == "disabled"
    problem = await api.problem(
        "POST",
        f"{CM}/certificate-requests",
        409,
        "ca-disabled",
        role="operator",
        json={"profile": "web", "managed": {"commonName": "a.svc.example.internal"}},
    )
    assert "disabled" in problem["detail"]
    assert (await api.ok("POST", f"{CM}/cas/corp-issuing/enable"))["status"] == "active"
    assert (await issue_managed(api))["status"] == "issued"


async def test_list_crls_returns_pem_crls_newest_first(api: ApiServer, tmp_path: Path) -> None:
    pki = await make_pki(api)
    first = await api.ok("GET", f"{CM}/cas/corp-issuing/crls", role="viewer")
    assert len(first) == 1 and first[0]["caId"] == pki["inter"]["id"]
    issued = await issue_managed(api)
    await api.ok(
        "POST",
        f"{CM}/certificates/{issued['certificateId']}/revoke",
        role="operator",
        json={"revocationReason": "KEY_COMPROMISE"},
    )
    crls = await api.ok("GET", f"{CM}/cas/corp-issuing/crls", role="viewer")
    assert [c["crlNumber"] for c in crls] == [first[0]["crlNumber"] + 1, first[0]["crlNumber"]]
    text = openssl("crl", "-in", write(tmp_path / "crl.pem", crls[0]["crl"]), "-noout", "-text").stdout
    assert issued["certificate"]["serialNumber"].upper().lstrip("0")[:8] in text.replace(":", "").upper()
    assert "Key Compromise" in text
    assert await api.ok("GET", f"{CM}/ca/internal/{pki['inter']['id']}/crls", role="viewer") == crls


async def test_patch_ca_changes_its_status_url_and_crl_partitions(api: ApiServer) -> None:
    created = await api.ok(
        "POST",
        f"{CM}/cas",
        json={
            "type": "root",
            "name": "corp-root",
            "statusUrl": "http://pki.example.internal/",
            "crlPartitions": 2,
        },
        status=201,
    )
    ca_id = created["id"]
    assert (created["statusUrl"], created["crlPartitions"]) == ("http://pki.example.internal", 2)
    assert created["crlUrls"] == [
        f"http://pki.example.internal/crl/{ca_id}.crl",
        f"http://pki.example.internal/crl/{ca_id}/1.crl",
    ]
    updated = await api.ok(
        "PATCH",
        f"{CM}/cas/corp-root",
        json={"statusUrl": "http://status.example.internal", "crlPartitions": 3},
    )
    assert updated["statusUrl"] == "http://status.example.internal"
    assert updated["ocspUrl"] == "http://status.example.internal/ocsp"
    assert updated["crlUrls"][2] == f"http://status.example.internal/crl/{ca_id}/2.crl"
    # Every partition was published at once; the partition's CRL names its URL (RFC 5280 §5.2.5).
    crls = await api.ok("GET", f"{CM}/cas/corp-root/crls", role="viewer")
    assert {crl["partition"] for crl in crls} >= {0, 1, 2}
    problem = await api.problem(
        "PATCH", f"{CM}/cas/corp-root", 400, "invalid-field", json={"crlPartitions": 0}
    )
    assert problem["field"] == "crlPartitions"
    problem = await api.problem(
        "PATCH", f"{CM}/cas/corp-root", 400, "invalid-field", json={"statusUrl": "ftp://x.example"}
    )
    assert problem["detail"] == "statusUrl: 'ftp://x.example' is not an http(s) URL"
    await api.problem("PATCH", f"{CM}/cas/corp-root", 403, "forbidden", json={}, role="operator")
    await api.problem("PATCH", f"{CM}/cas/nope", 404, "not-found", json={"crlPartitions": 2})
    assert (await api.ok("GET", f"{CM}/cas/corp-root", role="viewer"))["crlPartitions"] == 3
