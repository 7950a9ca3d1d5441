"""The OpenAPI 3.1 document, built from the route table and the schemas (nothing written per endpoint),
and a self-contained HTML page that renders it (no scripts, nothing fetched from elsewhere)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from acme_server.api.http import Endpoint
from acme_server.api.problems import PROBLEM_JSON
from acme_server.api.schemas import SCHEMAS, ref
from acme_server.services.access.tokens import Role

API_PREFIX = "/api/v1"
_PARAMETER = re.compile(r"{([^}:]+)(?::[^}]+)?}")
# Statuses every operation that needs a token may answer, whatever it does (api/http.py dispatch).
_COMMON_ERRORS = {
    400: "Bad input: the problem's `field` names what is wrong",
    401: "Missing, unknown or expired API token",
    404: "No such resource",
    429: "Too many wrong API tokens from this address (rate limit api_token_failures_per_ip):"
    " every request is refused until Retry-After seconds have passed",
}
# Headers those answers always carry (api/problems.py problem_response): (description, schema).
_HEADERS: dict[int, dict[str, tuple[str, dict[str, Any]]]] = {
    401: {"WWW-Authenticate": ('the bearer challenge, `Bearer realm="acme-server"`', {"type": "string"})},
    429: {"Retry-After": ("seconds until the window ends", {"type": "integer", "minimum": 0})},
}


def _version() -> str:
    try:
        return version("acme-server")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0"


def _problem(status: int, description: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": ref("Problem")}},
    }
    headers = _HEADERS.get(status, {})
    if headers:
        response["headers"] = {
            name: {"description": text, "required": True, "schema": schema}
            for name, (text, schema) in headers.items()
        }
    return response


def _refused_roles(role: Role) -> str:
    """The roles below `role`, which its operations refuse with 403."""
    return " or ".join(r.value for r in Role if not r.allows(role))


def _parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
            "description": "id or name",
        }
        for name in _PARAMETER.findall(endpoint.path)
    ]
    for q in endpoint.query:
        schema = {"type": "array", "items": q.schema} if q.repeated else q.schema
        parameter: dict[str, Any] = {"name": q.name, "in": "query", "required": False, "schema": schema}
        if q.description:
            parameter["description"] = q.description
        if q.repeated:
            parameter.update(style="form", explode=True)
        found.append(parameter)
    return found


def _success(endpoint: Endpoint) -> dict[str, Any]:
    if endpoint.status == 204:
        return {"description": "Done (no content)"}
    content: dict[str, Any] = {}
    if endpoint.response is not None:
        content["application/json"] = {"schema": ref(endpoint.response)}
    if any(q.name == "format" and "pkcs12" in q.schema.get("enum", ()) for q in endpoint.query):
        content["application/x-pkcs12"] = {"schema": {"type": "string", "contentEncoding": "binary"}}
    if not content:
        content[endpoint.media_type] = {"schema": {"type": "string"}}
    return {"description": endpoint.summary, "content": content}


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.name,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "responses": {str(endpoint.status): _success(endpoint)},
    }
    parameters = _parameters(endpoint)
    if parameters:
        operation["parameters"] = parameters
    if endpoint.body is not None:
        operation["requestBody"] = {
            # api/http.py reads a missing or blank body as {}: only a schema with required fields needs one
            "required": bool(SCHEMAS[endpoint.body].get("required")),
            "content": {"application/json": {"schema": ref(endpoint.body)}},
        }
    if endpoint.role is None:
        operation["security"] = []
        return operation
    operation["description"] = f"Needs a token with role {endpoint.role.value} or above."
    statuses = dict(_COMMON_ERRORS)
    if endpoint.role is not Role.VIEWER or endpoint.forbidden:  # every token is at least a viewer
        refused = _refused_roles(endpoint.role)
        statuses[403] = "; ".join(
            filter(None, [f"A {refused} token is refused" if refused else "", endpoint.forbidden])
        )
    for status in endpoint.errors:
        statuses[status] = "Conflicts with the stored state" if status == 409 else "Error"
    for status, description in sorted(statuses.items()):
        operation["responses"][str(status)] = _problem(status, description)
    return operation


def build_document(endpoints: Sequence[Endpoint]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(API_PREFIX + endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "acme-server certificate management API",
            "version": _version(),
            "description": "Create an API token with `acme-server token create --role admin|operator|viewer`"
            " and send it as `Authorization: Bearer <token>`. Errors are RFC 9457 problem documents.",
        },
        "servers": [{"url": "/"}],
        "tags": [{"name": tag} for tag in dict.fromkeys(e.tag for e in endpoints)],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


_STYLE = """body{font:15px/1.45 system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem}
h2{border-bottom:1px solid #ccc;margin-top:2.2rem}code,pre{font:13px ui-monospace,monospace}
.op{margin:.8rem 0;padding:.5rem .8rem;border:1px solid #ddd;border-radius:6px}
.m{display:inline-block;min-width:4.5rem;font-weight:700}.GET{color:#05a}.POST{color:#080}
.PUT,.PATCH{color:#a60}.DELETE{color:#b00}pre{background:#f6f6f6;padding:.6rem;overflow:auto}
td{padding:.1rem .6rem .1rem 0;vertical-align:top}"""


def _schema_link(schema: dict[str, Any]) -> str:
    name = str(schema.get("$ref", "")).rsplit("/", 1)[-1]
    return f'<a href="#schema-{html.escape(name)}">{html.escape(name)}</a>' if name else ""


def _first_schema(response: dict[str, Any]) -> dict[str, Any]:
    for media in response.get("content", {}).values():
        schema: dict[str, Any] = media.get("schema", {})
        return schema
    return {}


def _operation_html(path: str, method: str, operation: dict[str, Any]) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td><code>{e(p['name'])}</code></td><td>{e(p['in'])}</td>"
        f"<td>{e(p.get('description', ''))}</td></tr>"
        for p in operation.get("parameters", [])
    )
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    responses = ", ".join(
        f"{status} {_schema_link(_first_schema(r))}" for status, r in operation["responses"].items()
    )
    return (
        f'<div class="op" id="{e(operation["operationId"])}"><span class="m {e(method.upper())}">'
        f"{e(method.upper())}</span> <code>{e(path)}</code> — {e(operation['summary'])}"
        f"<br><small>{e(operation.get('description', 'No token needed.'))}</small>"
        + (f"<table>{rows}</table>" if rows else "")
        + (f"<div>Body: {_schema_link(body)}</div>" if body else "")
        + f"<div>Responses: {responses}</div></div>"
    )


def render_docs(document: dict[str, Any]) -> str:
    """The whole document as one HTML page: operations grouped by tag, then every schema."""
    e = html.escape
    sections: dict[str, list[str]] = {tag["name"]: [] for tag in document["tags"]}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            sections[operation["tags"][0]].append(_operation_html(path, method, operation))
    parts = [f"<h2>{e(tag)}</h2>{''.join(items)}" for tag, items in sections.items()]
    schemas = "".join(
        f'<h3 id="schema-{e(name)}">{e(name)}</h3><pre>{e(json.dumps(schema, indent=2))}</pre>'
        for name, schema in document["components"]["schemas"].items()
    )
    info = document["info"]
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(info["title"])}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{e(info['title'])} {e(info['version'])}</h1>"
        f"<p>{e(info['description'])}</p><p>Machine-readable: "
        f'<a href="{API_PREFIX}/openapi.json">{API_PREFIX}/openapi.json</a> (OpenAPI 3.1)</p>'
        + "".join(parts)
        + f"<h2>Schemas</h2>{schemas}</body></html>"
    )
