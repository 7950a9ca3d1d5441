"""/cert-manager/certificate-policies and /certificate-profiles over real HTTP: CRUD, PATCH of some
fields, validation errors naming the field, and 409 for deleting what is in use."""

from __future__ import annotations

from tests.api.conftest import CM, ApiServer, issue_managed, make_pki

POLICIES = f"{CM}/certificate-policies"
PROFILES = f"{CM}/certificate-profiles"


async def test_policy_crud(api: ApiServer) -> None:
    created = await api.ok(
        "POST", POLICIES, status=201, json={"name": "internal", "altNames": {"dns": {"allowed": ["*.corp"]}}}
    )
    assert created["name"] == "internal"
    assert created["altNames"]["dns"] == {"allowed": ["*.corp"], "denied": []}
    assert created["maxTtl"] is None
    assert await api.ok("GET", f"{POLICIES}/internal", role="viewer") == created
    assert (await api.ok("GET", POLICIES, role="viewer"))["certificatePolicies"] == [created]
    patched = await api.ok("PATCH", f"{POLICIES}/internal", json={"maxTtl": "90d"})
    assert (patched["maxTtl"], patched["altNames"]["dns"]["allowed"]) == ("90d", ["*.corp"])
    replaced = await api.ok("PUT", f"{POLICIES}/{created['id']}", json={"description": "any name"})
    assert (replaced["description"], replaced["maxTtl"], replaced["altNames"]["dns"]["allowed"]) == (
        "any name",
        None,
        [],
    )
    assert await api.ok("DELETE", f"{POLICIES}/internal", status=204) is None
    await api.problem("GET", f"{POLICIES}/internal", 404, "not-found", role="viewer")


async def test_policy_errors_name_the_field(api: ApiServer) -> None:
    problem = await api.problem(
        "POST", POLICIES, 400, "invalid-field", json={"name": "p", "altNames": {"dns": {"allowed": ["a..b"]}}}
    )
    assert problem["field"].startswith("altNames.dns.allowed[0]"), problem
    problem = await api.problem("POST", POLICIES, 400, "invalid-field", json={"name": "p", "maxTtl": "never"})
    assert problem["field"] == "maxTtl"
    problem = await api.problem("POST", POLICIES, 400, "invalid-field", json={"maxTtl": "9d"})
    assert (problem["field"], problem["detail"]) == ("name", "name: is required")
    await api.ok("POST", POLICIES, status=201, json={"name": "p"})
    await api.problem("POST", POLICIES, 409, "conflict", json={"name": "p"})
    problem = await api.problem("PATCH", f"{POLICIES}/p", 400, "invalid-field", json={"name": "q"})
    assert problem["field"] == "name"
    await api.problem("PUT", f"{POLICIES}/nope", 404, "not-found", json={})


async def test_profile_crud_and_in_use_conflicts(api: ApiServer) -> None:
    pki = await make_pki(api)
    web = pki["profile"]
    assert (web["name"], web["slug"], web["caId"], web["policyId"]) == (
        "web",
        "web",
        pki["inter"]["id"],
        pki["policy"]["id"],
    )
    assert (web["defaultTtl"], web["maxTtl"], web["extendedKeyUsages"]) == ("30d", "90d", ["server_auth"])
    assert await api.ok("GET", f"{PROFILES}/web", role="viewer") == web
    assert [p["name"] for p in (await api.ok("GET", PROFILES, role="viewer"))["certificateProfiles"]] == [
        "web"
    ]
    patched = await api.ok(
        "PATCH", f"{PROFILES}/web", json={"autoRenewByDefault": True, "renewBeforeDays": 10}
    )
    assert (patched["autoRenewByDefault"], patched["renewBeforeDays"], patched["maxTtl"]) == (True, 10, "90d")
    replaced = await api.ok("PUT", f"{PROFILES}/web", json={"caId": "corp-root", "description": "all new"})
    assert (replaced["caId"], replaced["policyId"], replaced["description"]) == (
        pki["root"]["id"],
        None,
        "all new",
    )
    assert replaced["autoRenewByDefault"] is False  # PUT: what is left out takes its default
    await api.ok("PATCH", f"{PROFILES}/web", json={"caId": "corp-issuing", "policyId": "internal"})
    problem = await api.problem("DELETE", f"{POLICIES}/internal", 409, "conflict")
    assert problem["detail"] == "policy 'internal' is used by profile 'web'"
    issued = await issue_managed(api)
    problem = await api.problem("DELETE", f"{PROFILES}/web", 409, "conflict")
    assert problem["detail"] == "profile 'web' is in use by 1 certificate(s)"
    await api.ok("DELETE", f"{CM}/certificates/{issued['certificateId']}", status=204, role="operator")
    problem = await api.problem("DELETE", f"{PROFILES}/web", 409, "conflict")
    assert problem["detail"] == "profile 'web' has 1 certificate request(s) on record"
    await api.ok("POST", PROFILES, status=201, json={"name": "spare", "caId": "corp-root"})
    await api.ok("DELETE", f"{PROFILES}/spare", status=204)
    await api.problem("GET", f"{PROFILES}/spare", 404, "not-found", role="viewer")


async def test_profile_errors_name_the_field(api: ApiServer) -> None:
    await make_pki(api)
    problem = await api.problem(
        "POST",
        PROFILES,
        400,
        "invalid-field",
        json={"name": "x", "caId": "corp-issuing", "keyUsages": ["fly"]},
    )
    assert problem["field"] == "keyUsages[0]"
    problem = await api.problem(
        "POST", PROFILES, 400, "invalid-field", json={"name": "x", "caId": "corp-issuing", "defaultTtl": 30}
    )
    assert (problem["field"], problem["detail"]) == ("defaultTtl", "defaultTtl: must be a string")
    problem = await api.problem("POST", PROFILES, 404, "not-found", json={"name": "x", "caId": "nope"})
    assert problem["detail"] == "no CA 'nope'"
    problem = await api.problem(
        "POST", PROFILES, 400, "invalid-field", json={"name": "x", "caId": "corp-issuing", "maxTtl": "1d"}
    )
    assert problem["field"] in {"defaultTtl", "maxTtl"}, problem
    await api.problem("POST", PROFILES, 409, "conflict", json={"name": "web", "caId": "corp-issuing"})
    problem = await api.problem(
        "PATCH", f"{PROFILES}/web", 400, "invalid-field", json={"renewBeforeDays": -1}
    )
    assert problem["field"] == "renewBeforeDays"
    problem = await api.problem("PUT", f"{PROFILES}/web", 400, "invalid-field", json={"issuerType": "magic"})
    assert problem["field"] == "issuerType"
