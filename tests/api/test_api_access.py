"""Bearer tokens and roles over real HTTP: a missing, malformed, unknown or expired token is 401, a role
too low is 403, never a 500; unknown paths, wrong methods and bad bodies are precise problems."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from acme_server.api.routes import ENDPOINTS
from acme_server.services.access import tokens
from acme_server.services.access.tokens import Role
from tests.api.conftest import CM, PROBLEM, ApiServer
from tests.fakes import FixedClock


async def test_missing_or_malformed_token_is_401_with_a_bearer_challenge(api: ApiServer) -> None:
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}):
        response = await api.request("GET", f"{CM}/cas", role=None, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer realm="acme-server"'
        assert response.json() == {
            "type": "urn:acme-server:problem:unauthorized",
            "title": "Unauthorized",
            "status": 401,
            "detail": "send an API token as 'Authorization: Bearer <token>'",
        }


async def test_unknown_revoked_and_expired_tokens_are_401(api: ApiServer) -> None:
    expired, _ = await tokens.create_token(api.rt, "short", Role.ADMIN, timedelta(minutes=5))
    revoked, info = await tokens.create_token(api.rt, "gone", Role.ADMIN)
    await tokens.revoke_token(api.rt, info.id)
    api.rt.clock = FixedClock(datetime.now(UTC) + timedelta(minutes=6))
    for secret in ("acmes_nope", expired, revoked):
        problem = await api.problem(
            "GET", f"{CM}/cas", 401, "unauthorized", role=None, headers={"Authorization": f"Bearer {secret}"}
        )
        assert problem["detail"] == "the API token is unknown, revoked or expired"
    assert await api.ok("GET", f"{CM}/cas", role="viewer") == {"cas": []}


@pytest.mark.parametrize(
    ("role", "method", "path", "needed"),
    [
        ("viewer", "POST", f"{CM}/cas", "admin"),
        ("operator", "POST", f"{CM}/cas", "admin"),
        ("operator", "DELETE", f"{CM}/certificate-profiles/web", "admin"),
        ("viewer", "POST", f"{CM}/certificate-requests", "operator"),
        ("viewer", "GET", f"{CM}/certificates/x/export", "operator"),
        ("viewer", "POST", f"{CM}/certificates/x/revoke", "operator"),
        ("operator", "GET", "/api/v1/tokens", "admin"),
        ("operator", "POST", f"{CM}/eab-keys", "admin"),
    ],
)
async def test_a_role_too_low_is_403_before_anything_else(
    api: ApiServer, role: str, method: str, path: str, needed: str
) -> None:
    problem = await api.problem(method, path, 403, "forbidden", role=role, json={})
    assert problem["detail"] == f"token '{role}-test' has role {role}; this needs {needed}"


async def test_each_role_reads(api: ApiServer) -> None:
    for role in ("viewer", "operator", "admin"):
        assert await api.ok("GET", f"{CM}/cas", role=role) == {"cas": []}


async def test_unknown_path_and_wrong_method_are_problems(api: ApiServer) -> None:
    problem = await api.problem("GET", f"{CM}/nothing-here", 404, "not-found")
    assert problem["detail"] == f"no API resource '{CM}/nothing-here'"
    response = await api.request("PUT", f"{CM}/cas")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.json()["detail"] == "PUT is not allowed here; use GET, POST"


async def test_bodies_that_are_not_json_or_break_the_schema_name_the_field(api: ApiServer) -> None:
    problem = await api.problem("POST", f"{CM}/cas", 400, "invalid-field", content=b"{nope")
    assert problem["field"] == "body" and problem["detail"].startswith("body: not JSON")
    problem = await api.problem("POST", f"{CM}/cas", 400, "invalid-field", json=["root"])
    assert (problem["field"], problem["detail"]) == ("body", "body: must be a JSON object")
    problem = await api.problem("POST", f"{CM}/cas", 400, "invalid-field", json={"type": "root"})
    assert (problem["field"], problem["detail"]) == ("name", "name: is required")
    problem = await api.problem("POST", f"{CM}/cas", 400, "invalid-field", json={"type": "leaf", "name": "x"})
    assert problem["field"] == "type"
    assert problem["detail"] == "type: 'leaf' is not one of root, intermediate, external"
    problem = await api.problem(
        "POST", f"{CM}/cas", 400, "invalid-field", json={"type": "root", "name": "x", "colour": "red"}
    )
    assert problem["field"] == "colour" and "unknown field" in problem["detail"]
    problem = await api.problem(
        "POST", f"{CM}/cas", 400, "invalid-field", json={"type": "root", "name": "x", "maxPathLength": "1"}
    )
    assert (problem["field"], problem["detail"]) == ("maxPathLength", "maxPathLength: must be an integer")


async def test_nul_characters_and_huge_numbers_are_refused_not_500(api: ApiServer) -> None:
    problem = await api.problem("GET", f"{CM}/certificates?search=a%00b", 400, "invalid-field", role="viewer")
    assert (problem["field"], problem["detail"]) == ("search", "search: must not contain NUL characters")
    problem = await api.problem(
        "POST", f"{CM}/cas", 400, "invalid-field", json={"type": "root", "name": "a\x00"}
    )
    assert problem["field"] == "name"
    problem = await api.problem(
        "POST",
        f"{CM}/cas",
        400,
        "invalid-field",
        json={"type": "root", "name": "r", "crlUrl": "http://x/\x00"},
    )
    assert problem["field"] == "crlUrl"
    await api.problem("GET", f"{CM}/cas/a%00b", 404, "not-found", role="viewer")
    problem = await api.problem(
        "GET", f"{CM}/certificates?offset=99999999999999999999999", 400, "invalid-field", role="viewer"
    )
    assert problem["field"] == "offset"


async def test_every_endpoint_refuses_a_missing_token_and_a_role_too_low(api: ApiServer) -> None:
    for endpoint in ENDPOINTS:
        path = "/api/v1" + re.sub(r"{[^}]+}", "x", endpoint.path)
        response = await api.request(endpoint.method, path, role=None, json={})
        if endpoint.role is None:
            assert response.status_code == 200, path
            continue
        assert (response.status_code, response.json()["type"]) == (401, PROBLEM + "unauthorized"), path
        if endpoint.role is not Role.VIEWER:
            response = await api.request(endpoint.method, path, role="viewer", json={})
            assert (response.status_code, response.json()["type"]) == (403, PROBLEM + "forbidden"), path
