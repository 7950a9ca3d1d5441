"""The OpenAPI 3.1 document and the docs page: served without a token, generated from the route table,
every route documented, every $ref resolvable, and the docs page self-contained."""

from __future__ import annotations

import re
from typing import Any

from openapi_spec_validator import validate
from starlette.routing import Mount, Route

from acme_server.api.routes import ENDPOINTS
from acme_server.app import ROUTES
from acme_server.services.access.tokens import Role
from tests.api.conftest import ApiServer

METHODS = {"get", "post", "put", "patch", "delete"}


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return found + [r for v in value.values() for r in _refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    return []


async def test_every_route_is_documented_and_the_document_is_well_formed(api: ApiServer) -> None:
    response = await api.request("GET", "/api/v1/openapi.json", role=None)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    document = response.json()
    validate(document)  # the OpenAPI 3.1 meta-schema, JSON Schema 2020-12 for the schemas
    assert document["openapi"] == "3.1.0"
    assert {"title", "version"} <= set(document["info"])
    assert document["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    # walk the mounted router: every path and method it serves is in the document, and nothing else
    (mount,) = [r for r in ROUTES if isinstance(r, Mount) and r.path == "/api/v1"]
    served = set()
    for route in mount.routes:
        assert isinstance(route, Route)
        for method in route.app.endpoints:  # type: ignore[attr-defined]
            served.add((mount.path + route.path, method.lower()))
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert served == documented and len(served) == len(ENDPOINTS)
    operation_ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))
    schemas = document["components"]["schemas"]
    for reference in _refs(document):
        assert reference.startswith("#/components/schemas/") and reference.rsplit("/", 1)[1] in schemas
    for path, item in document["paths"].items():
        declared = set(re.findall(r"{(\w+)}", path))
        for method, op in item.items():
            assert method in METHODS and op["summary"] and op["tags"] and op["responses"]
            in_path = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert in_path == declared, (path, method)
            assert all(p["required"] for p in op.get("parameters", []) if p["in"] == "path")
            for status, answer in op["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d", status) and answer["description"]
            if op.get("security") != []:
                assert {"401", "429"} <= set(op["responses"]), (path, method)
                assert op["responses"]["401"]["content"]["application/problem+json"]["schema"] == {
                    "$ref": "#/components/schemas/Problem"
                }


async def test_request_bodies_and_filters_come_from_the_table(api: ApiServer) -> None:
    document = (await api.request("GET", "/api/v1/openapi.json", role=None)).json()
    create = document["paths"]["/api/v1/cert-manager/certificate-requests"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/NewCertificateRequest"
    }
    listing = document["paths"]["/api/v1/cert-manager/certificates"]["get"]
    names = [p["name"] for p in listing["parameters"]]
    assert names == ["status", "profile", "ca", "expiringBefore", "search", "metadata", "limit", "offset"]
    metadata = next(p for p in listing["parameters"] if p["name"] == "metadata")
    assert (metadata["schema"]["type"], metadata["explode"]) == ("array", True)
    export = document["paths"]["/api/v1/cert-manager/certificates/{certificate}/export"]["get"]
    assert set(export["responses"]["200"]["content"]) == {"application/json", "application/x-pkcs12"}


async def test_docs_page_is_self_contained_html_listing_every_operation(api: ApiServer) -> None:
    response = await api.request("GET", "/api/v1/docs", role=None)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "<script" not in page and "https://" not in page and "http://" not in page
    for endpoint in ENDPOINTS:
        assert f'id="{endpoint.name}"' in page
    assert 'id="schema-NewCertificateRequest"' in page


async def test_401_and_429_are_documented_wherever_a_token_is_needed_and_403_where_one_is_refused(
    api: ApiServer,
) -> None:
    """Schemathesis (test_api_schemathesis.py) found 429 undocumented: past api_token_failures_per_ip
    every operation answers it. 403 is listed where a token can be refused: an operation above viewer
    (naming the roles refused), and createSync, where an operator is refused some settings."""
    document = (await api.request("GET", "/api/v1/openapi.json", role=None)).json()
    by_id = {op["operationId"]: op for item in document["paths"].values() for op in item.values()}
    for endpoint in ENDPOINTS:
        responses = by_id[endpoint.name]["responses"]
        if endpoint.role is None:
            assert not {"401", "403", "429"} & set(responses), endpoint.name
            continue
        assert responses["401"]["headers"]["WWW-Authenticate"]["required"] is True
        assert responses["429"]["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 0}
        assert ("403" in responses) == (endpoint.role is not Role.VIEWER), endpoint.name
    assert by_id["listCas"]["responses"].keys() == {"200", "400", "401", "404", "429"}
    assert by_id["createCertificateRequest"]["responses"]["403"]["description"] == "A viewer token is refused"
    assert by_id["createCa"]["responses"]["403"]["description"] == "A viewer or operator token is refused"
    assert by_id["createSync"]["responses"]["403"]["description"].startswith(
        "A viewer token is refused; an operator's too when it names config.reloadCommand"
    )
