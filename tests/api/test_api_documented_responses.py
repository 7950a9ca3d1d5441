"""Regression tests for what schemathesis (test_api_schemathesis.py) found: each response here is
checked against the live OpenAPI document by schemathesis's own validator (status documented, body
matches the schema, content type, headers), the way the fuzzing run checks every response."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st

from acme_server.api.schemas import DURATION_PATTERN
from acme_server.config import Limit
from ca_core.durations import parse_duration
from ca_core.errors import InvalidSetting
from tests.api.conftest import CM, PROBLEM, ApiServer, issue_managed, make_pki


async def conforms(api: ApiServer, response: httpx.Response, path: str, method: str) -> None:
    """Fail unless `response` is what the document says operation `method path` answers: its status
    listed, its content type one listed for that status, the headers listed as required present,
    and its body valid against the schema (schemathesis's validator, formats included)."""
    document = (await api.request("GET", "/api/v1/openapi.json", role=None)).json()
    responses = document["paths"]["/api/v1" + path][method.lower()]["responses"]
    assert str(response.status_code) in responses, f"{response.status_code} not in {sorted(responses)}"
    documented = responses[str(response.status_code)]
    media_type = response.headers.get("content-type", "").split(";")[0]
    assert media_type in documented.get("content", {}) or not (response.content or documented.get("content"))
    for name, header in documented.get("headers", {}).items():
        assert not header["required"] or name in response.headers, name
    schemathesis.openapi.from_dict(document)["/api/v1" + path][method].validate_response(response)


async def test_a_path_holding_a_newline_is_an_api_problem_not_the_acme_servers_404(api: ApiServer) -> None:
    """Starlette's mount pattern stopped at a newline: /api/v1/...%0A... fell through to the app's
    ACME 404 (`urn:ietf:params:acme:error:malformed`, no title), which the API document does not list."""
    for path in (f"{CM}/syncs/%0Ax", f"{CM}/cas/a%0A", f"{CM}/certificates/%0A/auto-renewal"):
        response = await api.request("GET", path, role="viewer")
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == PROBLEM + "not-found" and response.json()["title"] == "Not found"
    response = await api.request("DELETE", f"{CM}/syncs/%0Ax", role="operator")
    await conforms(api, response, "/cert-manager/syncs/{sync}", "DELETE")


async def test_stored_durations_conform_to_the_documented_duration_syntax(api: ApiServer) -> None:
    """The schemas said format "duration", which JSON Schema defines as ISO 8601 ("P90D"): every
    profile and policy the API returned ("90d") broke its own document."""
    await make_pki(api)
    for path, one in (
        ("/cert-manager/certificate-policies", "/cert-manager/certificate-policies/{policy}"),
        ("/cert-manager/certificate-profiles", "/cert-manager/certificate-profiles/{profile}"),
    ):
        await conforms(api, await api.request("GET", "/api/v1" + path, role="viewer"), path, "GET")
        name = "internal" if "policies" in path else "web"
        await conforms(api, await api.request("GET", f"/api/v1{path}/{name}", role="viewer"), one, "GET")
    document = (await api.request("GET", "/api/v1/openapi.json", role=None)).json()
    ttl = document["components"]["schemas"]["Profile"]["properties"]["defaultTtl"]
    assert (ttl["format"], ttl["pattern"]) == ("acme-server-duration", DURATION_PATTERN)
    problem = await api.problem("POST", "/api/v1/tokens", 400, "invalid-field", json={
        "name": "iso", "role": "viewer", "expiresIn": "P30D"
    })  # fmt: skip
    assert problem["field"] == "expiresIn"


@settings(max_examples=300, derandomize=True, database=None)
@given(st.from_regex(DURATION_PATTERN, fullmatch=True))
def test_what_the_duration_pattern_matches_parses_or_is_refused_only_for_its_bounds(text: str) -> None:
    try:
        parse_duration(text)
    except InvalidSetting as exc:
        assert "longer than zero" in exc.detail or "too long" in exc.detail, exc.detail


@settings(max_examples=300, derandomize=True, database=None)
@given(st.text(alphabet="0123456789ywdhmsYWDHMS \t", max_size=12))
def test_what_parses_as_a_duration_the_pattern_matches(text: str) -> None:
    try:
        parse_duration(text)
    except InvalidSetting:
        return
    assert re.fullmatch(DURATION_PATTERN, text), text


async def test_a_profile_sets_and_shows_its_renewal_window_and_challenge_types(api: ApiServer) -> None:
    """The profile view showed renewalWindow and challengeTypes, which neither its schema nor the
    input schema had: the API could not set what it returned."""
    await make_pki(api)
    body = {"renewalWindow": {"start": 50, "end": 90}, "challengeTypes": ["dns-01", "dns-account-01"]}
    path = "/cert-manager/certificate-profiles/{profile}"
    response = await api.request("PATCH", f"{CM}/certificate-profiles/web", json=body)
    await conforms(api, response, path, "PATCH")
    assert {k: response.json()[k] for k in body} == body
    shown = await api.ok("GET", f"{CM}/certificate-profiles/web", role="viewer")
    assert {k: shown[k] for k in body} == body
    problem = await api.problem(
        "PATCH",
        f"{CM}/certificate-profiles/web",
        400,
        "invalid-field",
        json={"challengeTypes": ["email-reply-00"]},
    )
    assert problem["field"] == "challengeTypes[0]"


async def test_the_latest_active_bundle_conforms_to_the_document(api: ApiServer) -> None:
    """getLatestActiveBundle answers certificateId too, which the closed PemExport schema refused."""
    await make_pki(api)
    issued = await issue_managed(api)
    response = await api.request("GET", f"{CM}/certificate-profiles/web/certificates/latest", role="operator")
    await conforms(api, response, "/cert-manager/certificate-profiles/{profile}/certificates/latest", "GET")
    assert response.json()["certificateId"] == issued["certificateId"]


@pytest.mark.parametrize(
    ("kind", "create_schema", "document"),
    [("policies", "NewPolicy", {}), ("profiles", "NewProfile", {"caId": "corp-root"})],
)
async def test_a_policy_or_profile_is_named_at_creation_and_never_after(
    api: ApiServer, kind: str, create_schema: str, document: dict[str, Any]
) -> None:
    """The create schema had `name` optional (the server required it) and PUT/PATCH listed it (the
    server refused it): now NewPolicy/NewProfile require it and PolicyInput/ProfileInput have none."""
    await make_pki(api)
    collection = f"{CM}/certificate-{kind}"
    problem = await api.problem("POST", collection, 400, "invalid-field", json=document)
    assert (problem["field"], problem["detail"]) == ("name", "name: is required")
    await api.ok("POST", collection, json={"name": "second", **document}, status=201)
    for method in ("PUT", "PATCH"):
        problem = await api.problem(method, f"{collection}/second", 400, "invalid-field", json={"name": "x"})
        assert problem["field"] == "name" and "unknown field" in problem["detail"]
    spec = (await api.request("GET", "/api/v1/openapi.json", role=None)).json()
    create = spec["paths"][collection]["post"]["requestBody"]
    assert create["content"]["application/json"]["schema"] == {
        "$ref": f"#/components/schemas/{create_schema}"
    }


async def test_a_request_body_is_documented_as_required_only_where_a_field_is(api: ApiServer) -> None:
    """A missing body is read as {} (api/http.py): revoke, EAB key creation and PATCH take one, so
    the document said "required" where the server accepted none (negative_data_rejection)."""
    await make_pki(api)
    certificate = (await issue_managed(api))["certificateId"]
    spec = (await api.request("GET", "/api/v1/openapi.json", role=None)).json()
    revoke = spec["paths"][f"{CM}/certificates/{{certificate}}/revoke"]["post"]["requestBody"]
    create_ca = spec["paths"][f"{CM}/cas"]["post"]["requestBody"]
    assert (revoke["required"], create_ca["required"]) == (False, True)
    response = await api.request("POST", f"{CM}/certificates/{certificate}/revoke", role="operator")
    assert response.status_code == 200
    await conforms(api, response, "/cert-manager/certificates/{certificate}/revoke", "POST")
    problem = await api.problem("POST", f"{CM}/cas", 400, "invalid-field")
    assert problem["field"] == "type"


async def test_a_429_for_too_many_wrong_tokens_is_a_documented_answer(api: ApiServer) -> None:
    limits = api.rt.rate_limits
    api.rt.rate_limits = dataclasses.replace(limits, api_token_failures_per_ip=Limit(1, 60))
    try:
        await api.request("GET", f"{CM}/cas", role=None, headers={"Authorization": "Bearer acmes_wrong"})
        response = await api.request("POST", f"{CM}/eab-keys", json={})
    finally:
        api.rt.rate_limits = limits
    assert response.status_code == 429
    await conforms(api, response, "/cert-manager/eab-keys", "POST")
