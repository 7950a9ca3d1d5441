"""GET /api/v1/audit over real HTTP: changes made through the API are listed with the token that made
them and the request id of the request (X-Request-ID); only admins read the log."""

from __future__ import annotations

import pytest

from tests.api.conftest import CM, ApiServer, issue_managed, make_pki


async def test_each_api_change_is_listed_with_its_token_and_request_id(
    api: ApiServer, audit_log: pytest.LogCaptureFixture
) -> None:
    admin = next(t for t in (await api.ok("GET", "/api/v1/tokens"))["tokens"] if t["name"] == "admin-test")
    created = await api.ok(
        "POST",
        f"{CM}/certificate-policies",
        json={"name": "audited"},
        status=201,
        headers={"X-Request-ID": "req-audit-1"},
    )
    await api.ok("DELETE", f"{CM}/certificate-policies/audited", status=204)
    page = await api.ok("GET", "/api/v1/audit?target=policy")
    assert page["totalCount"] == 2 and (page["limit"], page["offset"]) == (50, 0)
    deleted, made = page["events"]
    assert made == {
        "id": made["id"],
        "at": made["at"],
        "actor": {"kind": "token", "name": "admin-test", "id": admin["id"]},
        "action": "policy.create",
        "target": {"kind": "policy", "id": created["id"]},
        "detail": {"name": "audited"},
        "requestId": "req-audit-1",
    }
    assert made["at"].endswith("Z")
    (line,) = [r for r in audit_log.records if r.getMessage().startswith("policy.create policy")]
    assert (
        line.getMessage() == f"policy.create policy {created['id']} by API token 'admin-test' ({admin['id']})"
    )
    assert (vars(line)["request_id"], vars(line)["fields"]) == ("req-audit-1", {"audit_id": made["id"]})
    assert deleted["action"] == "policy.delete" and deleted["requestId"] not in (None, "req-audit-1")


async def test_the_list_is_paged_and_filtered(api: ApiServer) -> None:
    await make_pki(api)  # two CAs, a policy, a profile
    everything = await api.ok("GET", "/api/v1/audit")
    actions = [e["action"] for e in everything["events"]]
    assert actions[:4] == ["profile.create", "policy.create", "ca.create", "ca.create"]  # newest first
    assert (await api.ok("GET", "/api/v1/audit"))["totalCount"] == everything[
        "totalCount"
    ]  # reading writes none
    cas_only = await api.ok("GET", "/api/v1/audit?action=ca&limit=1&offset=1")
    assert cas_only["totalCount"] == 2 and len(cas_only["events"]) == 1
    assert cas_only["events"][0]["detail"] == {"name": "corp-root", "kind": "root"}
    assert (await api.ok("GET", "/api/v1/audit?actor=admin-test&since=1h"))["totalCount"] == 4
    # the fixture's three tokens were made by no one signed in: the server itself
    assert (await api.ok("GET", "/api/v1/audit?actor=server&action=token.create"))["totalCount"] == 3
    assert (await api.ok("GET", "/api/v1/audit?actor=nobody"))["totalCount"] == 0
    assert (await api.ok("GET", "/api/v1/audit?since=2999-01-01"))["events"] == []


@pytest.mark.parametrize("role", ["viewer", "operator"])
async def test_viewer_and_operator_may_not_read_the_audit_log(api: ApiServer, role: str) -> None:
    problem = await api.problem("GET", "/api/v1/audit", 403, "forbidden", role=role)
    assert "this needs admin" in problem["detail"]
    await api.problem("GET", "/api/v1/audit", 401, "unauthorized", role=None)


async def test_a_bad_since_is_a_problem_naming_the_field(api: ApiServer) -> None:
    problem = await api.problem("GET", "/api/v1/audit?since=yesterday", 400, "invalid-field")
    assert "neither a duration" in problem["detail"]
    await api.problem("GET", "/api/v1/audit?limit=0", 400, "invalid-field")


async def test_the_audit_list_is_in_the_openapi_document(api: ApiServer) -> None:
    document = await api.ok("GET", "/api/v1/openapi.json", role=None)
    operation = document["paths"]["/api/v1/audit"]["get"]
    assert operation["operationId"] == "listAuditEvents"
    assert {p["name"] for p in operation["parameters"]} == {
        "since",
        "actor",
        "action",
        "target",
        "limit",
        "offset",
    }
    assert "AuditEventList" in document["components"]["schemas"]


async def test_metadata_auto_renewal_and_renew_now_over_the_api_are_rows_of_the_operator_token(
    api: ApiServer,
) -> None:
    await make_pki(api)
    cert = (await issue_managed(api))["certificate"]
    base = f"{CM}/certificates/{cert['id']}"
    await api.ok("PATCH", f"{base}/metadata", role="operator", json={"metadata": {"env": None, "tier": "1"}})
    await api.ok("PUT", f"{base}/auto-renewal", role="operator", json={"enabled": True})
    new = await api.ok("POST", f"{base}/renew", role="operator", status=201)
    page = await api.ok("GET", f"/api/v1/audit?target={cert['id']}")
    renewed, switched, edited = page["events"]
    assert all(
        e["actor"]["kind"] == "token" and e["actor"]["name"] == "operator-test" for e in page["events"]
    )
    assert (edited["action"], edited["detail"]["set"], edited["detail"]["removed"]) == (
        "certificate.metadata",
        ["tier"],
        ["env"],
    )
    assert (switched["action"], switched["detail"]["enabled"]) == ("certificate.auto_renew", True)
    assert (renewed["action"], renewed["detail"]["successor"]) == ("certificate.renew_now", new["id"])
    assert page["totalCount"] == 3
