"""API input: subject attributes past their RFC 5280 bounds, durations that would overflow a date, and
a sweep of every create/update operation with hostile values in each field of its schema, over real
HTTP. Each answers a 400 problem naming the field, never a 500 (docs/security.md "API input")."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from acme_server.api.routes import ENDPOINTS
from acme_server.api.schemas import SCHEMAS, Schema
from tests.api.conftest import CM, ApiServer, issue_managed, make_pki

REQUESTS = f"{CM}/certificate-requests"
HOSTILE: tuple[Any, ...] = ("x" * 10_000, "ü1☃\u202e", -1, None, "-1d", 2**70, [], {})
# The syncs belong to api/syncs.py and are swept with it; docs need no body.
SWEPT = {e.name for e in ENDPOINTS if e.body is not None and e.name != "createSync"}


def _managed(**fields: Any) -> dict[str, Any]:
    return {"profile": "web", "managed": {"altNames": ["a.svc.example.internal"], **fields}}


@pytest.mark.parametrize(
    ("fields", "field", "detail"),
    [
        ({"commonName": "a" * 65}, "managed.commonName", "must be at most 64 characters (RFC 5280), got 65"),
        ({"country": "ü1"}, "managed.country", "'ü1' is not a two-letter country code like 'DE'"),
        ({"country": "D1"}, "managed.country", "'D1' is not a two-letter country code like 'DE'"),
        ({"organization": "o" * 65}, "managed.organization",
         "must be at most 64 characters (RFC 5280), got 65"),
        ({"organizationalUnit": "u" * 65}, "managed.organizationalUnit",
         "must be at most 64 characters (RFC 5280), got 65"),
        ({"locality": "l" * 129}, "managed.locality", "must be at most 128 characters (RFC 5280), got 129"),
        ({"state": "s" * 129}, "managed.state", "must be at most 128 characters (RFC 5280), got 129"),
        ({"ttl": "99999y"}, "managed.ttl", "'99999y' is too long: at most 36500d (100 years)"),
        ({"ttl": "0d"}, "managed.ttl", "'0d' must be longer than zero"),
    ],
)  # fmt: skip
async def test_api_500s_managed_request_with_unacceptable_subject_or_ttl_is_a_400_naming_the_field(
    api: ApiServer, fields: dict[str, Any], field: str, detail: str
) -> None:
    await make_pki(api)
    problem = await api.problem("POST", REQUESTS, 400, "invalid-field", json=_managed(**fields))
    assert (problem["field"], problem["detail"]) == (field, f"{field}: {detail}")


async def test_api_500s_subject_at_its_bounds_is_issued(api: ApiServer) -> None:
    await make_pki(api, profile={"policyId": None})
    body = _managed(commonName="c" * 64, organization="o" * 64, locality="l" * 128, country="de")
    request = await api.ok("POST", REQUESTS, json=body, status=201, role="operator")
    assert request["parameters"]["subject"]["CN"] == "c" * 64


async def test_api_500s_ca_name_too_long_for_its_common_name_names_the_name(api: ApiServer) -> None:
    problem = await api.problem(
        "POST", f"{CM}/cas", 400, "invalid-field", json={"type": "root", "name": "r" * 65}
    )
    assert problem["field"] == "name"
    problem = await api.problem(
        "POST", f"{CM}/cas", 400, "invalid-field", json={"type": "root", "name": "r", "ttl": "99999y"}
    )
    assert problem["field"] == "ttl"


@pytest.mark.parametrize("expires_in", ["99999y", "36501d", "0s"])
async def test_api_500s_token_lifetime_out_of_range_is_a_400(api: ApiServer, expires_in: str) -> None:
    body = {"name": "ci", "role": "viewer", "expiresIn": expires_in}
    problem = await api.problem("POST", "/api/v1/tokens", 400, "invalid-field", json=body)
    assert problem["field"] == "expiresIn"


def _resolve(schema: Schema) -> Schema:
    while "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _variants(base: dict[str, Any], schema: Schema) -> Iterator[tuple[str, dict[str, Any]]]:
    """`base` with one field (nested objects and list items too) replaced by each hostile value."""
    for name, prop in _resolve(schema).get("properties", {}).items():
        for value in HOSTILE:
            yield name, {**base, name: value}
            if _resolve(prop).get("type") == "array":
                yield f"{name}[0]", {**base, name: [value]}
        inner = _resolve(prop)
        if inner.get("type") == "object" and inner.get("properties"):
            nested = base.get(name) if isinstance(base.get(name), dict) else {}
            for path, variant in _variants(nested, inner):
                yield f"{name}.{path}", {**base, name: variant}


async def test_api_500s_hostile_values_in_every_field_never_answer_500(api: ApiServer) -> None:
    await make_pki(api)
    cert = (await issue_managed(api))["certificateId"]
    kid = (await api.ok("POST", f"{CM}/eab-keys", status=201, json={}))["kid"]
    bases: dict[str, tuple[str, dict[str, Any]]] = {
        "createCa": (f"{CM}/cas", {"type": "root", "name": "fuzz-root"}),
        "importCaCertificate": (f"{CM}/cas/corp-issuing/import", {"certificate": "x"}),
        "updateCa": (f"{CM}/cas/corp-issuing", {}),
        "createPolicy": (f"{CM}/certificate-policies", {"name": "fuzz"}),
        "replacePolicy": (f"{CM}/certificate-policies/internal", {}),
        "updatePolicy": (f"{CM}/certificate-policies/internal", {}),
        "createProfile": (f"{CM}/certificate-profiles", {"name": "fuzz", "caId": "corp-issuing"}),
        "replaceProfile": (f"{CM}/certificate-profiles/web", {"caId": "corp-issuing"}),
        "updateProfile": (f"{CM}/certificate-profiles/web", {}),
        "createCertificateRequest": (REQUESTS, _managed(commonName="a.svc.example.internal")),
        "replaceCertificateMetadata": (f"{CM}/certificates/{cert}/metadata", {"metadata": {}}),
        "updateCertificateMetadata": (f"{CM}/certificates/{cert}/metadata", {"metadata": {}}),
        "setAutoRenewal": (f"{CM}/certificates/{cert}/auto-renewal", {"enabled": False}),
        "createEabKey": (f"{CM}/eab-keys", {}),
        "disableEabKey": (f"{CM}/eab-keys/{kid}/disable", {}),
        "createToken": ("/api/v1/tokens", {"name": "fuzz", "role": "viewer"}),
        "startCaRotation": (f"{CM}/cas/corp-issuing/rotation", {"to": "corp-root"}),
        "finishCaRotation": (f"{CM}/cas/corp-issuing/rotation/finish", {}),
        "revokeCertificate": (f"{CM}/certificates/{cert}/revoke", {}),  # last: it succeeds once
    }
    assert set(bases) == SWEPT
    by_operation = {e.name: e for e in ENDPOINTS}
    failures = []
    for operation, (path, base) in bases.items():
        endpoint = by_operation[operation]
        assert endpoint.body is not None
        for field, body in _variants(base, {"$ref": f"#/components/schemas/{endpoint.body}"}):
            response = await api.request(endpoint.method, path, json=body)
            if response.status_code >= 500:
                failures.append(f"{operation} {field}={str(body)[:80]}: {response.status_code}")
    assert failures == []


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
async def test_api_500s_expiring_before_outside_the_datetime_range_in_utc_is_a_400(
    api: ApiServer, when: str
) -> None:
    """A valid ISO date-time whose offset carries it past 9999-12-31 or before 0001-01-01 in UTC was an
    OverflowError, a 500 (found after the schemathesis run; api/schema.py checks it now)."""
    problem = await api.problem(
        "GET", f"{CM}/certificates", 400, "invalid-field", role="viewer", params={"expiringBefore": when}
    )
    assert problem["detail"] == f"expiringBefore: {when!r} lies outside 0001-01-01 to 9999-12-31 in UTC"
    assert await api.ok("GET", f"{CM}/certificates", role="viewer", params={"expiringBefore": when[:10]}) == {
        "certificates": [],
        "totalCount": 0,
        "limit": 50,
        "offset": 0,
    }
