"""The REST API's edge: an Endpoint is one row of the route table (method, path, role, schemas, handler);
`dispatch` runs every request through the same pipeline — bearer token → role → query and body checked
against the endpoint's schemas → handler → JSON — and turns every error into a problem document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from acme_server.api import problems
from acme_server.api.schema import Checker, Schema
from acme_server.api.schemas import SCHEMAS
from acme_server.errors import MethodNotAllowed, NotFound, Unauthorized
from acme_server.services.access import tokens
from acme_server.services.access.tokens import Role, TokenInfo
from acme_server.services.platform import audit, rate_limits
from acme_server.services.runtime import Runtime
from ca_core.errors import CAError, InvalidSetting

checker = Checker(SCHEMAS)


@dataclass(frozen=True)
class Query:
    """One query parameter: its schema (checked, then converted), whether it repeats."""

    name: str
    schema: Schema
    description: str = ""
    repeated: bool = False


@dataclass
class Call:
    """What a handler gets: the runtime, the caller's token, path parameters, the checked query and body."""

    request: Request
    rt: Runtime
    token: TokenInfo | None
    path: dict[str, str]
    query: dict[str, Any]
    body: Any

    @property
    def actor(self) -> str:
        """Who is acting, for audit lines: the token's name and id."""
        return f"API token {self.token.name!r} ({self.token.id})" if self.token else "anonymous"


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # below /api/v1, with {param} segments
    handler: Handler
    role: Role | None  # None: no token needed (the OpenAPI document and its docs page)
    name: str  # the OpenAPI operationId
    summary: str
    tag: str
    body: str | None = None  # request schema (components/schemas)
    response: str | None = None  # response schema; None with status 204: no content
    status: int = 200
    query: tuple[Query, ...] = ()
    media_type: str = "application/json"
    errors: tuple[int, ...] = field(default=())  # statuses beyond the common ones the docs should list
    forbidden: str = ""  # when a token of the role itself is refused too (403), for the docs


def json_response(value: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps(value, option=orjson.OPT_UTC_Z), status_code=status, media_type="application/json"
    )


async def _authenticate(request: Request, rt: Runtime) -> TokenInfo:
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("send an API token as 'Authorization: Bearer <token>'")
    client_ip = request.client.host if request.client else None
    return await rate_limits.authenticate_token(rt, secret, client_ip=client_ip, ui=False)


async def authorize(request: Request, rt: Runtime, role: Role) -> TokenInfo:
    """The request's bearer token, checked to hold `role` (Unauthorized, Forbidden otherwise)."""
    token = await _authenticate(request, rt)
    tokens.check_role(token, role)
    return token


def _query(request: Request, declared: Sequence[Query]) -> dict[str, Any]:
    known = {q.name for q in declared}
    for name in request.query_params:
        if name not in known:
            expected = ", ".join(sorted(known)) or "none"
            raise InvalidSetting(name, f"unknown query parameter; expected one of: {expected}")
    values: dict[str, Any] = {}
    for q in declared:
        raw = request.query_params.getlist(q.name)
        if not raw:
            continue
        converted = [_convert(value, q) for value in raw]
        if not q.repeated and len(converted) > 1:
            raise InvalidSetting(q.name, "give this parameter once")
        values[q.name] = converted if q.repeated else converted[0]
    return values


def _convert(text: str, q: Query) -> Any:
    value: Any = text
    if q.schema.get("type") == "integer":
        try:
            value = int(text)
        except ValueError:
            raise InvalidSetting(q.name, f"{text!r} is not an integer") from None
    elif q.schema.get("type") == "boolean":
        if text not in ("true", "false"):
            raise InvalidSetting(q.name, f"{text!r} is not true or false")
        value = text == "true"
    checker.check(value, q.schema, q.name)
    return value


async def _body(request: Request, schema_name: str | None) -> Any:
    raw = await request.body()
    if schema_name is None:
        return None
    if not raw.strip():
        raw = b"{}"
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidSetting("body", f"not JSON ({exc})") from None
    if not isinstance(body, dict):  # every request schema is an object; checked first to name the field
        raise InvalidSetting("body", "must be a JSON object")
    checker.check(body, SCHEMAS[schema_name], "")
    return body


async def _run(endpoint: Endpoint, request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    token = None if endpoint.role is None else await authorize(request, rt, endpoint.role)
    if any("\x00" in value for value in request.path_params.values()):
        raise NotFound("API resource", request.url.path)  # no id or name holds NUL (see schema.py)
    call = Call(
        request=request,
        rt=rt,
        token=token,
        path=dict(request.path_params),
        query=_query(request, endpoint.query),
        body=await _body(request, endpoint.body),
    )
    with audit.acting(audit.token_actor(token.id, token.name) if token else audit.UNATTRIBUTED):
        result = await endpoint.handler(call)
    if isinstance(result, Response):
        return result
    if endpoint.status == 204:
        return Response(status_code=204)
    return json_response(result, endpoint.status)


class Dispatcher:
    """The ASGI app of one path: the endpoint for the request's method, or a 405 problem. (A class, not
    a function: Starlette would take a plain function for a request -> response endpoint.)"""

    def __init__(self, endpoints: Mapping[str, Endpoint]) -> None:
        self.endpoints = dict(endpoints)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        endpoint = self.endpoints.get(request.method)
        allowed = ", ".join(self.endpoints)
        try:
            if endpoint is None:
                raise MethodNotAllowed(f"{request.method} is not allowed here; use {allowed}")
            response = await _run(endpoint, request)
        except CAError as exc:
            response = problems.problem_response(exc, request.url.path)
        except Exception as exc:  # the API's error edge: never a traceback to the client
            response = problems.unexpected_response(exc, request.url.path)
        if endpoint is None:
            response.headers["Allow"] = allowed
        await response(scope, receive, send)


async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """What the API router answers for a path it does not have."""
    response = problems.problem_response(NotFound("API resource", scope["path"]), scope["path"])
    await response(scope, receive, send)
