"""Certificate requests and the inventory over real HTTP: managed and CSR issuance, precise problems
for bad CSRs and policy violations, list filters, details, metadata, export checked with the seed's
openssl and keytool commands, revoke (CRL regenerated), renew now and the latest active bundle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from acme_server.services import issuance
from acme_server.services.renewal import ari
from ca_core.request import Subject
from tests.api.conftest import CM, ApiServer, issue_managed, make_pki
from tests.ca_core.helpers import keytool
from tests.tools import openssl, write

REQUESTS = f"{CM}/certificate-requests"
CERTS = f"{CM}/certificates"


def _csr(tmp_path: Path, cn: str, *sans: str) -> str:
    key, csr = tmp_path / "csr.key", tmp_path / "req.csr"
    openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
        "-out", csr, "-subj", f"/CN={cn}/O=Corp", "-addext", "subjectAltName=" + ",".join(sans),
    )  # fmt: skip
    return csr.read_text()


async def test_managed_request_issues_and_is_recorded(api: ApiServer) -> None:
    await make_pki(api)
    request = await issue_managed(api, friendlyName="payments API")
    assert (request["status"], request["method"], request["error"]) == ("issued", "managed", None)
    assert request["metadata"] == {"team": "payments", "env": "prod"}
    assert request["parameters"] == {
        "ttl": "30d",
        "subject": {"O": "Corp", "CN": "api.svc.example.internal"},
        "altNames": ["api.svc.example.internal", "10.1.2.3"],
        "keyAlgorithm": "RSA_2048",
    }
    cert = request["certificate"]
    assert cert["id"] == request["certificateId"]
    assert (cert["commonName"], cert["friendlyName"], cert["status"], cert["privateKey"]) == (
        "api.svc.example.internal",
        "payments API",
        "active",
        "managed",
    )
    assert (cert["keyAlgorithm"], cert["altNames"]) == ("RSA_2048", ["api.svc.example.internal", "10.1.2.3"])
    lifetime = datetime.fromisoformat(cert["notAfter"]) - datetime.fromisoformat(cert["notBefore"])
    assert lifetime == timedelta(days=30)
    fetched = await api.ok("GET", f"{REQUESTS}/{request['id']}", role="viewer")
    assert fetched == request


async def test_csr_request_takes_subject_sans_and_key_from_the_csr(api: ApiServer, tmp_path: Path) -> None:
    await make_pki(api)
    pem = _csr(tmp_path, "csr.svc.example.internal", "DNS:csr.svc.example.internal", "IP:10.9.9.9")
    request = await api.ok(
        "POST",
        REQUESTS,
        status=201,
        role="operator",
        json={"profile": "web", "csr": {"pem": pem, "ttl": "7d"}, "metadata": {"team": "edge"}},
    )
    cert = request["certificate"]
    assert (request["method"], request["csr"], cert["privateKey"]) == ("csr", pem, "external")
    assert cert["altNames"] == ["csr.svc.example.internal", "10.9.9.9"]
    export = await api.ok("GET", f"{CERTS}/{cert['id']}/export?format=pem", role="operator")
    assert export["privateKey"] is None
    cert_file = write(tmp_path / "cert.pem", export["certificate"])
    modulus = openssl("x509", "-in", cert_file, "-noout", "-pubkey").stdout
    assert modulus == openssl("pkey", "-in", tmp_path / "csr.key", "-pubout").stdout


async def test_refused_requests_are_precise_problems_and_recorded_as_failed(
    api: ApiServer, tmp_path: Path
) -> None:
    await make_pki(api)
    problem = await api.problem(
        "POST",
        REQUESTS,
        400,
        "bad-csr",
        role="operator",
        json={"profile": "web", "csr": {"pem": "not a CSR"}},
    )
    assert problem["detail"] == "not a PEM or DER PKCS#10 certificate request"
    problem = await api.problem(
        "POST",
        REQUESTS,
        400,
        "policy-violation",
        role="operator",
        json={
            "profile": "web",
            "managed": {"commonName": "evil.example.com", "altNames": ["evil.example.com"]},
        },
    )
    assert problem["field"] == "commonName"
    assert {
        "field": "altNames.dns",
        "value": "evil.example.com",
        "reason": problem["violations"][1]["reason"],
    } in (problem["violations"])
    problem = await api.problem(
        "POST", REQUESTS, 400, "invalid-field", role="operator", json={"profile": "nope", "managed": {}}
    )
    assert (problem["field"], problem["detail"]) == ("profile", "profile: no profile 'nope'")
    for body in ({"profile": "web"}, {"profile": "web", "managed": {}, "csr": {"pem": "x"}}):
        problem = await api.problem("POST", REQUESTS, 400, "invalid-field", role="operator", json=body)
        assert problem["field"] == "method"
    problem = await api.problem(
        "POST",
        REQUESTS,
        400,
        "invalid-field",
        role="operator",
        json={"profile": "web", "managed": {"commonName": "a.svc.example.internal", "keyAlgorithm": "DSA"}},
    )
    assert problem["field"] == "managed.keyAlgorithm"
    problem = await api.problem(
        "POST",
        REQUESTS,
        400,
        "invalid-field",
        role="operator",
        json={"profile": "web", "managed": {"commonName": "a.svc.example.internal", "ttl": "2d2d"}},
    )
    assert problem["field"] == "managed.ttl"
    problem = await api.problem(
        "POST",
        REQUESTS,
        400,
        "invalid-field",
        role="operator",
        json={"profile": "web", "managed": {"altNames": ["a.svc.example.internal", 7]}},
    )
    assert problem["field"] == "managed.altNames[1]"
    failed = await api.ok("GET", f"{REQUESTS}?status=failed", role="viewer")
    assert failed["totalCount"] == 2
    assert {r["method"] for r in failed["certificateRequests"]} == {"csr", "managed"}
    errors = [r["error"] for r in failed["certificateRequests"] if r["certificateId"] is None]
    assert sorted(errors, key=len)[0] == "not a PEM or DER PKCS#10 certificate request"
    assert len(errors) == 2 and "evil.example.com" in sorted(errors, key=len)[1]
    await api.problem("GET", f"{REQUESTS}/nope", 404, "not-found", role="viewer")


async def test_request_list_filters(api: ApiServer) -> None:
    await make_pki(api)
    first = await issue_managed(api, "a.svc.example.internal")
    await issue_managed(api, "b.svc.example.internal", metadata={"team": "search"})
    listed = await api.ok("GET", f"{REQUESTS}?metadata=team=payments&metadata=env=prod", role="viewer")
    assert [r["id"] for r in listed["certificateRequests"]] == [first["id"]]
    assert listed["certificateRequests"][0]["certificate"] is None  # the list stays light; get has it
    page = await api.ok("GET", f"{REQUESTS}?profile=web&limit=1&offset=1", role="viewer")
    assert (page["totalCount"], page["limit"], page["offset"], len(page["certificateRequests"])) == (
        2,
        1,
        1,
        1,
    )
    problem = await api.problem("GET", f"{REQUESTS}?status=done", 400, "invalid-field", role="viewer")
    assert problem["field"] == "status"


async def test_certificate_list_filters_and_paging(api: ApiServer) -> None:
    pki = await make_pki(api)
    a = (await issue_managed(api, "a.svc.example.internal"))["certificate"]
    b = (await issue_managed(api, "b.svc.example.internal", metadata={"team": "search", "env": "prod"}))[
        "certificate"
    ]
    c = (await issue_managed(api, "c.svc.example.internal", metadata={"team": "payments", "env": "dev"}))[
        "certificate"
    ]
    await api.ok(
        "POST", f"{CERTS}/{c['id']}/revoke", role="operator", json={"revocationReason": "SUPERSEDED"}
    )

    async def ids(query: str) -> list[str]:
        found = await api.ok("GET", f"{CERTS}?{query}", role="viewer")
        return [item["id"] for item in found["certificates"]]

    assert await ids("") == [c["id"], b["id"], a["id"]]
    assert await ids("status=active") == [b["id"], a["id"]]
    assert await ids("metadata=env=prod") == [b["id"], a["id"]]
    assert await ids("metadata=team=payments&metadata=env=prod") == [a["id"]]
    assert await ids("status=active&metadata=team=payments") == [a["id"]]
    assert await ids("search=B.SVC") == [b["id"]]
    assert await ids(f"profile=web&ca={pki['inter']['id']}") == [c["id"], b["id"], a["id"]]
    assert await ids("ca=corp-root") == []
    assert await ids("expiringBefore=2000-01-01") == []
    tomorrow = (datetime.now(UTC) + timedelta(days=31)).isoformat()
    assert len(await ids(f"expiringBefore={tomorrow.replace('+00:00', 'Z')}")) == 3
    page = await api.ok("GET", f"{CERTS}?limit=2&offset=2", role="viewer")
    assert (page["totalCount"], [x["id"] for x in page["certificates"]]) == (3, [a["id"]])


@pytest.mark.parametrize(
    ("query", "field", "detail"),
    [
        ("status=expired", "status", "status: 'expired' is not one of active, revoked, superseded"),
        ("expiringBefore=tomorrow", "expiringBefore", "expiringBefore: 'tomorrow' is not an ISO 8601 date"),
        ("metadata=team", "metadata", "metadata: 'team': use key=value"),
        ("limit=0", "limit", "limit: must be at least 1"),
        ("limit=ten", "limit", "limit: 'ten' is not an integer"),
        ("offset=-1", "offset", "offset: must be at least 0"),
        ("profile=nope", "profile", "profile: no profile 'nope'"),
        ("ca=nope", "ca", "ca: no CA 'nope'"),
        ("colour=red", "colour", "colour: unknown query parameter; expected one of: ca, expiringBefore"),
        ("status=active&status=revoked", "status", "status: give this parameter once"),
    ],
)
async def test_bad_filters_are_precise_problems(api: ApiServer, query: str, field: str, detail: str) -> None:
    problem = await api.problem("GET", f"{CERTS}?{query}", 400, "invalid-field", role="viewer")
    assert problem["field"] == field
    assert problem["detail"].startswith(detail), problem["detail"]


async def test_details_show_every_section_and_metadata_can_be_edited(api: ApiServer) -> None:
    pki = await make_pki(api)
    cert = (await issue_managed(api))["certificate"]
    details = await api.ok("GET", f"{CERTS}/{cert['id']}", role="viewer")
    assert details["overview"] == {
        "commonName": "api.svc.example.internal",
        "friendlyName": "api.svc.example.internal",
        "status": "active",
        "serialNumber": cert["serialNumber"],
        "notBefore": cert["notBefore"],
        "notAfter": cert["notAfter"],
    }
    assert details["issuance"] == {
        "caId": pki["inter"]["id"],
        "issuer": "CN=corp-issuing,O=Corp",
        "profileId": pki["profile"]["id"],
        "profileName": "web",
        "enrollment": "api",
        "renewedFromId": None,
        "renewedById": None,
        "renewalChain": [cert["id"]],
    }
    assert details["subjectAttributes"]["organization"] == "Corp"
    assert details["subjectAttributes"]["altNames"] == ["api.svc.example.internal", "10.1.2.3"]
    assert details["extensions"]["basicConstraints"] == {"ca": False, "pathLength": None}
    assert details["extensions"]["extendedKeyUsages"] == ["server_auth"]
    assert details["extensions"]["crlDistributionPoints"] == [f"{api.url}/crl/{pki['inter']['id']}.crl"]
    crypto = details["cryptographicInfo"]
    assert (crypto["keyAlgorithm"], crypto["signatureAlgorithm"]) == ("RSA_2048", "ecdsa-with-SHA256")
    assert (
        len(crypto["fingerprintSha256"].split(":")) == 32 and len(crypto["fingerprintSha1"].split(":")) == 20
    )
    assert details["metadata"] == {"team": "payments", "env": "prod"}

    replaced = await api.ok(
        "PUT", f"{CERTS}/{cert['id']}/metadata", role="operator", json={"metadata": {"a": "1"}}
    )
    assert replaced["metadata"] == {"a": "1"}
    patched = await api.ok(
        "PATCH", f"{CERTS}/{cert['id']}/metadata", role="operator", json={"metadata": {"a": None, "b": "2"}}
    )
    assert patched["metadata"] == {"b": "2"}
    problem = await api.problem(
        "PATCH",
        f"{CERTS}/{cert['id']}/metadata",
        400,
        "invalid-field",
        role="operator",
        json={"metadata": []},
    )
    assert (problem["field"], problem["detail"]) == ("metadata", "metadata: must be an object")
    assert (await api.ok("GET", f"{CERTS}/{cert['id']}", role="viewer"))["metadata"] == {"b": "2"}
    problem = await api.problem(
        "PUT",
        f"{CERTS}/{cert['id']}/metadata",
        400,
        "invalid-field",
        role="operator",
        json={"metadata": {"a": 1}},
    )
    assert problem["field"] == "metadata.a"
    await api.problem(
        "PUT", f"{CERTS}/{cert['id']}/metadata", 403, "forbidden", role="viewer", json={"metadata": {}}
    )
    await api.problem("GET", f"{CERTS}/nope", 404, "not-found", role="viewer")
    await api.ok("DELETE", f"{CERTS}/{cert['id']}", status=204, role="operator")
    await api.problem("GET", f"{CERTS}/{cert['id']}", 404, "not-found", role="viewer")
    await api.problem("DELETE", f"{CERTS}/{cert['id']}", 404, "not-found", role="operator")


async def test_pem_export_and_the_seeds_openssl_commands(
    api: ApiServer, tmp_path: Path, audit_log: pytest.LogCaptureFixture
) -> None:
    await make_pki(api)
    cert = (await issue_managed(api))["certificate"]
    export = await api.ok("GET", f"{CERTS}/{cert['id']}/export?format=pem", role="operator")
    assert set(export) == {"serialNumber", "certificate", "certificateChain", "privateKey"}
    assert export["serialNumber"] == cert["serialNumber"]
    cert_pem = write(tmp_path / "cert.pem", export["certificate"])
    chain = write(tmp_path / "chain.pem", export["certificateChain"])
    key = write(tmp_path / "private-key.pem", export["privateKey"])
    assert openssl("verify", "-CAfile", chain, cert_pem).stdout.strip() == f"{cert_pem}: OK"
    assert (
        openssl("x509", "-in", cert_pem, "-noout", "-pubkey").stdout
        == openssl("pkey", "-in", key, "-pubout").stdout
    )
    assert "private key of certificate" in audit_log.text
    assert "by API token 'operator-test'" in audit_log.text


async def test_pkcs12_export_works_with_the_seeds_openssl_and_keytool_commands(
    api: ApiServer, tmp_path: Path, audit_log: pytest.LogCaptureFixture
) -> None:
    await make_pki(api)
    cert = (await issue_managed(api))["certificate"]
    response = await api.request(
        "GET",
        f"{CERTS}/{cert['id']}/export",
        role="operator",
        params={"format": "pkcs12", "password": "s3cret!", "alias": "payments"},
    )
    assert response.status_code == 200 and response.headers["content-type"] == "application/x-pkcs12"
    p12 = write(tmp_path / "certificate.p12", response.content)
    clcerts = openssl("pkcs12", "-in", p12, "-nokeys", "-clcerts", "-passin", "pass:s3cret!").stdout
    assert "friendlyName: payments" in clcerts and clcerts.count("BEGIN CERTIFICATE") == 1
    subject = openssl("x509", "-noout", "-subject", "-in", write(tmp_path / "leaf.pem", clcerts)).stdout
    assert subject.replace(" = ", "=").strip() == "subject=O=Corp, CN=api.svc.example.internal"
    openssl(
        "pkcs12",
        "-in",
        p12,
        "-nocerts",
        "-out",
        tmp_path / "private-key.pem",
        "-passin",
        "pass:s3cret!",
        "-passout",
        "pass:keypass",
    )
    assert "ENCRYPTED PRIVATE KEY" in (tmp_path / "private-key.pem").read_text()
    jks = tmp_path / "certificate.jks"
    keytool(
        "-importkeystore", "-noprompt", "-srckeystore", p12, "-srcstoretype", "PKCS12",
        "-srcstorepass", "s3cret!", "-destkeystore", jks, "-deststoretype", "JKS",
        "-deststorepass", "jks-secret",
    )  # fmt: skip
    listing = keytool("-list", "-keystore", jks, "-storepass", "jks-secret").stdout
    assert "payments, " in listing and "PrivateKeyEntry" in listing
    assert "exported as PKCS#12 by API token 'operator-test'" in audit_log.text
    problem = await api.problem(
        "GET", f"{CERTS}/{cert['id']}/export?format=pkcs12", 400, "invalid-field", role="operator"
    )
    assert (problem["field"], problem["detail"]) == ("password", "password: is required here")
    await api.problem("GET", f"{CERTS}/{cert['id']}/export?format=der", 400, "invalid-field", role="operator")
    await api.problem("GET", f"{CERTS}/nope/export", 404, "not-found", role="operator")


async def test_revoke_answers_the_seed_shape_and_the_crl_says_revoked(api: ApiServer, tmp_path: Path) -> None:
    await make_pki(api)
    cert = (await issue_managed(api))["certificate"]
    answer = await api.ok(
        "POST", f"{CERTS}/{cert['id']}/revoke", role="operator", json={"revocationReason": "KEY_COMPROMISE"}
    )
    assert set(answer) == {"message", "serialNumber", "revokedAt"}
    assert (answer["message"], answer["serialNumber"]) == (
        "Successfully revoked certificate",
        cert["serialNumber"],
    )
    assert abs(datetime.fromisoformat(answer["revokedAt"]) - datetime.now(UTC)) < timedelta(minutes=1)
    export = await api.ok("GET", f"{CERTS}/{cert['id']}/export", role="operator")
    crls = await api.ok("GET", f"{CM}/cas/corp-issuing/crls", role="viewer")
    chain = write(tmp_path / "chain.pem", export["certificateChain"])
    result = openssl(
        "verify", "-crl_check", "-CAfile", chain, "-CRLfile", write(tmp_path / "crl.pem", crls[0]["crl"]),
        write(tmp_path / "cert.pem", export["certificate"]), check=False,
    )  # fmt: skip
    assert result.returncode != 0 and "certificate revoked" in result.stdout + result.stderr
    details = await api.ok("GET", f"{CERTS}/{cert['id']}", role="viewer")
    assert (details["status"], details["revocationReason"]) == ("revoked", "KEY_COMPROMISE")
    problem = await api.problem(
        "POST", f"{CERTS}/{cert['id']}/revoke", 409, "already-revoked", role="operator", json={}
    )
    assert problem["detail"] == f"certificate {cert['serialNumber']} is already revoked"
    problem = await api.problem(
        "POST",
        f"{CERTS}/{cert['id']}/revoke",
        400,
        "invalid-field",
        role="operator",
        json={"revocationReason": "BORED"},
    )
    assert problem["field"] == "revocationReason"
    await api.problem("POST", f"{CERTS}/nope/revoke", 404, "not-found", role="operator", json={})


async def test_renew_now_links_supersedes_carries_metadata_and_latest_follows(
    api: ApiServer, tmp_path: Path
) -> None:
    await make_pki(api)
    old = (await issue_managed(api))["certificate"]
    latest = await api.ok("GET", f"{CM}/certificate-profiles/web/certificates/latest", role="operator")
    assert (latest["certificateId"], latest["serialNumber"]) == (old["id"], old["serialNumber"])
    new = await api.ok("POST", f"{CERTS}/{old['id']}/renew", role="operator", status=201)
    assert new["id"] != old["id"] and new["serialNumber"] != old["serialNumber"]
    same = ("commonName", "altNames", "profileId", "caId", "metadata", "keyAlgorithm", "privateKey")
    assert {k: new[k] for k in same} == {k: old[k] for k in same}
    assert (new["renewedFromId"], new["status"]) == (old["id"], "active")
    before = await api.ok("GET", f"{CERTS}/{old['id']}", role="viewer")
    assert (before["status"], before["renewedById"]) == ("superseded", new["id"])
    details = await api.ok("GET", f"{CERTS}/{new['id']}", role="viewer")
    assert details["issuance"]["renewalChain"] == [old["id"], new["id"]]
    assert (
        details["subjectAttributes"]["distinguishedName"] == before["subjectAttributes"]["distinguishedName"]
    )
    problem = await api.problem("POST", f"{CERTS}/{old['id']}/renew", 409, "conflict", role="operator")
    assert problem["detail"] == f"certificate {old['serialNumber']} was already renewed by {new['id']}"
    latest = await api.ok("GET", f"{CM}/certificate-profiles/web/certificates/latest", role="operator")
    assert latest["certificateId"] == new["id"] and latest["privateKey"].startswith("-----BEGIN PRIVATE KEY")
    cert_pem = write(tmp_path / "cert.pem", latest["certificate"])
    openssl("verify", "-CAfile", write(tmp_path / "chain.pem", latest["certificateChain"]), cert_pem)
    old_key = (await api.ok("GET", f"{CERTS}/{old['id']}/export", role="operator"))["privateKey"]
    assert old_key != latest["privateKey"]  # a server-generated key is replaced on renewal
    await api.problem("POST", f"{CERTS}/nope/renew", 404, "not-found", role="operator")
    await api.problem(
        "GET", f"{CM}/certificate-profiles/nope/certificates/latest", 404, "not-found", role="operator"
    )
    await api.ok("POST", f"{CERTS}/{new['id']}/revoke", role="operator", json={})
    problem = await api.problem(
        "GET", f"{CM}/certificate-profiles/web/certificates/latest", 404, "not-found", role="operator"
    )
    assert problem["detail"] == "no active certificate of profile 'web'"
    problem = await api.problem("POST", f"{CERTS}/{new['id']}/renew", 409, "conflict", role="operator")
    assert problem["detail"] == (
        f"certificate {new['serialNumber']} is revoked; issue a new certificate instead"
    )


async def test_renewing_a_csr_certificate_keeps_its_public_key(api: ApiServer, tmp_path: Path) -> None:
    await make_pki(api)
    pem = _csr(tmp_path, "csr.svc.example.internal", "DNS:csr.svc.example.internal")
    old: dict[str, Any] = (
        await api.ok(
            "POST", REQUESTS, status=201, role="operator", json={"profile": "web", "csr": {"pem": pem}}
        )
    )["certificate"]
    new = await api.ok("POST", f"{CERTS}/{old['id']}/renew", role="operator", status=201)
    exported = [
        (await api.ok("GET", f"{CERTS}/{c['id']}/export", role="operator"))["certificate"] for c in (old, new)
    ]
    keys = [
        openssl("x509", "-noout", "-pubkey", "-in", write(tmp_path / f"{i}.pem", e)).stdout
        for i, e in enumerate(exported)
    ]
    assert keys[0] == keys[1] and new["privateKey"] == "external"


async def test_auto_renewal_on_off_and_refused_for_a_csr_certificate(api: ApiServer, tmp_path: Path) -> None:
    await make_pki(api, profile={"renewBeforeDays": 10})
    cert = (await issue_managed(api))["certificate"]
    assert cert["autoRenew"] is False
    status = await api.ok("GET", f"{CERTS}/{cert['id']}/auto-renewal", role="viewer")
    assert (status["enabled"], status["eligible"], status["failures"], status["attempts"]) == (
        False,
        True,
        0,
        [],
    )
    renew_after = datetime.fromisoformat(status["renewAfter"])
    assert renew_after == datetime.fromisoformat(cert["notAfter"]) - timedelta(days=10)
    on = await api.ok("PUT", f"{CERTS}/{cert['id']}/auto-renewal", role="operator", json={"enabled": True})
    assert on["enabled"] is True
    assert (await api.ok("GET", f"{CERTS}/{cert['id']}", role="viewer"))["autoRenew"] is True
    off = await api.ok("PUT", f"{CERTS}/{cert['id']}/auto-renewal", role="operator", json={"enabled": False})
    assert off["enabled"] is False
    pem = _csr(tmp_path, "csr.svc.example.internal", "DNS:csr.svc.example.internal")
    csr_cert = (
        await api.ok(
            "POST", REQUESTS, status=201, role="operator", json={"profile": "web", "csr": {"pem": pem}}
        )
    )["certificate"]
    problem = await api.problem(
        "PUT",
        f"{CERTS}/{csr_cert['id']}/auto-renewal",
        409,
        "conflict",
        role="operator",
        json={"enabled": True},
    )
    assert "auto-renewal needs a server-generated key" in problem["detail"]
    problem = await api.problem(
        "PUT",
        f"{CERTS}/{cert['id']}/auto-renewal",
        400,
        "invalid-field",
        role="operator",
        json={"enabled": "yes"},
    )
    assert problem["field"] == "enabled"
    await api.problem(
        "PUT", f"{CERTS}/{cert['id']}/auto-renewal", 403, "forbidden", role="viewer", json={"enabled": True}
    )
    await api.problem("GET", f"{CERTS}/nope/auto-renewal", 404, "not-found", role="viewer")


async def test_renew_now_on_an_acme_certificate_asks_its_client_through_renewal_info(api: ApiServer) -> None:
    """RFC 9773: the server holds no key of an ACME-issued certificate, so "renew now" moves its
    suggested window into the past (202, the certificate itself) and certbot/cert-manager renew it."""
    await make_pki(api)
    issued = await issuance.issue_certificate(
        api.rt,
        profile="web",
        managed=issuance.ManagedRequest(Subject(common_name="acme.svc.example.internal")),
        enrollment="acme",
    )
    _, before = await ari.renewal_info_of(api.rt, issued.id)
    assert before.window.start > datetime.now(UTC)
    marked = await api.ok("POST", f"{CERTS}/{issued.id}/renew", role="operator", status=202)
    assert (marked["id"], marked["status"]) == (issued.id, "active")
    assert "renewal-requested-at" in marked["metadata"]
    _, after = await ari.renewal_info_of(api.rt, issued.id)
    assert after.window.end <= datetime.now(UTC) and after.reason == "renewal-requested"
