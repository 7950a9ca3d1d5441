"""Issue 10 part 3: every UI route has one row here — its methods and the least role that may use it —
and each is driven over real HTTP with a viewer, an operator and an admin session: a role below the row's
gets 403 "Not allowed", the others get past the check, a POST without its form token gets 403 "Form
expired", and no session at all is sent to sign in. A route added to acme_server/ui/routes.py without a
row fails test_every_ui_route_has_a_role_row, so no action lands without its role decision.

The ids in the paths name nothing, so an allowed action stops at its 404 (or a 400 for an empty form)
and changes no data; what the test looks at is only whether the role check let it through."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.routing import Mount, Route

from acme_server.services.access.tokens import Role
from acme_server.ui.routes import ROUTES
from tests.test_serve import trust
from tests.ui.conftest import UI

VIEWER, OPERATOR, ADMIN = Role.VIEWER, Role.OPERATOR, Role.ADMIN
PUBLIC = None  # no sign-in needed


@dataclass(frozen=True)
class Row:
    methods: frozenset[str]
    role: Role | None


def row(role: Role | None, *methods: str) -> Row:
    return Row(frozenset(methods), role)


# route name (ui:<name>) -> methods and the least role; the API's role for the same object (api/routes.py)
EXPECTED: dict[str, Row] = {
    "home": row(PUBLIC, "GET"),
    "sign_in": row(PUBLIC, "GET", "POST"),
    "sign_out": row(PUBLIC, "POST"),
    "static": row(PUBLIC, "GET"),
    "not_found": row(PUBLIC, "GET"),
    # certificates and their Options menu
    "certificates": row(VIEWER, "GET"),
    "certificate": row(VIEWER, "GET"),
    "metadata": row(OPERATOR, "POST"),
    "export_pem": row(OPERATOR, "POST"),
    "export_pkcs12": row(OPERATOR, "POST"),
    "revoke": row(OPERATOR, "POST"),
    "auto_renew": row(OPERATOR, "POST"),
    "renew": row(OPERATOR, "POST"),
    "delete": row(OPERATOR, "POST"),
    "add_sync": row(OPERATOR, "POST"),
    "push_sync": row(OPERATOR, "POST"),
    "remove_sync": row(OPERATOR, "POST"),
    # the Syncs page (API: syncs; what only an admin may configure is the service's check)
    "syncs": row(VIEWER, "GET"),
    "create_sync": row(OPERATOR, "POST"),
    "run_sync": row(OPERATOR, "POST"),
    "delete_sync": row(OPERATOR, "POST"),
    # requests and CAs
    "requests": row(VIEWER, "GET"),
    "create_request": row(OPERATOR, "POST"),
    "cas": row(VIEWER, "GET"),
    "create_ca": row(ADMIN, "POST"),  # API: createCa (a token key by its URI only)
    "ca": row(VIEWER, "GET"),
    "start_rotation": row(ADMIN, "POST"),  # API: startCaRotation
    "finish_rotation": row(ADMIN, "POST"),
    "cancel_rotation": row(ADMIN, "POST"),
    # profiles and policies: everyone reads, admins change (API: certificate-profiles, -policies)
    **{
        name.format(key=key, plural=plural): rule
        for key, plural in (("profile", "profiles"), ("policy", "policies"))
        for name, rule in (
            ("{plural}", row(VIEWER, "GET")),
            ("{key}", row(VIEWER, "GET")),
            ("new_{key}", row(ADMIN, "GET")),
            ("create_{key}", row(ADMIN, "POST")),
            ("update_{key}", row(ADMIN, "POST")),
            ("delete_{key}", row(ADMIN, "POST")),
        )
    },
    # ACME accounts: everyone reads; deactivating locks a client out for good, as an EAB key's does
    "accounts": row(VIEWER, "GET"),
    "account": row(VIEWER, "GET"),
    "deactivate_account": row(ADMIN, "POST"),
    # EAB keys and API tokens: admin only, reading too (API: eab-keys, tokens)
    "eab_keys": row(ADMIN, "GET"),
    "create_eab_key": row(ADMIN, "POST"),
    "disable_eab_key": row(ADMIN, "POST"),
    "enable_eab_key": row(ADMIN, "POST"),
    "delete_eab_key": row(ADMIN, "POST"),
    "tokens": row(ADMIN, "GET"),
    "create_token": row(ADMIN, "POST"),
    "revoke_token": row(ADMIN, "POST"),
    # the audit log: admin only (API: audit)
    "audit": row(ADMIN, "GET"),
}
# what an allowed POST sends besides its form token, where an empty form would change data: a refused
# binding limit (a key with the default limit of one would be created)
FORMS: dict[str, dict[str, str]] = {"create_eab_key": {"max_accounts": "0"}}


@dataclass(frozen=True)
class UIRoute:
    name: str
    path: str  # with every parameter filled by an id that names nothing
    methods: frozenset[str]


def _ui_routes() -> list[UIRoute]:
    (mount,) = [r for r in ROUTES if isinstance(r, Mount) and r.name == "ui"]
    found: list[UIRoute] = []
    for route in mount.routes:
        if isinstance(route, Mount):  # the static files
            found.append(UIRoute(route.name or "", "/ui" + route.path + "/ui.css", frozenset({"GET"})))
        elif isinstance(route, Route):
            path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: "no-such-" + m.group(1), route.path)
            found.append(UIRoute(route.name, "/ui" + path, frozenset(route.methods or ()) - {"HEAD"}))
    return found


UI_ROUTES = _ui_routes()
GUARDED = [(r, method) for r in UI_ROUTES if EXPECTED.get(r.name, row(PUBLIC)).role for method in r.methods]


def test_every_ui_route_has_a_role_row() -> None:
    """A new UI route needs its row (and a role decision) here; a removed one takes its row along."""
    assert sorted(r.name for r in UI_ROUTES) == sorted(EXPECTED)
    for route in UI_ROUTES:
        assert route.methods == EXPECTED[route.name].methods, route.name


@dataclass
class Session:
    http: httpx.Client
    csrf: str


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, "no form token on the page"
    return found.group(1)


def _session(ui: UI, role: Role | None) -> Session:
    http = httpx.Client(base_url=ui.server.url, verify=trust(ui.data_dir))
    csrf = _csrf(http.get("/ui/sign-in").text)
    if role is not None:
        signed_in = http.post("/ui/sign-in", data={"csrf": csrf, "token": ui.seeded.tokens[role]})
        assert signed_in.status_code == 303, signed_in.text
        csrf = _csrf(http.get("/ui/certificates").text)  # a new session, a new form token
    return Session(http, csrf)


@pytest.fixture(scope="module")
def sessions(ui: UI) -> Iterator[dict[Role | None, Session]]:
    made = {role: _session(ui, role) for role in (None, *Role)}
    yield made
    for session in made.values():
        session.http.close()


def _call(session: Session, route: UIRoute, method: str, *, csrf: bool = True) -> httpx.Response:
    if method == "GET":
        return session.http.get(route.path)
    form = FORMS.get(route.name, {})
    return session.http.post(route.path, data={"csrf": session.csrf, **form} if csrf else form)


@pytest.mark.parametrize(("route", "method"), GUARDED, ids=[f"{r.name}-{m}" for r, m in GUARDED])
def test_each_role_is_allowed_or_refused_as_its_row_says(
    sessions: dict[Role | None, Session], route: UIRoute, method: str
) -> None:
    required = EXPECTED[route.name].role
    assert required is not None
    anonymous = _call(sessions[None], route, method)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/ui/sign-in?next=")
    for role in Role:
        response = _call(sessions[role], route, method)
        if role.allows(required):
            assert response.status_code != 403 and response.status_code < 500, (role, response.text)
            assert "Not allowed" not in response.text
        else:
            assert response.status_code == 403, role
            assert "Not allowed" in response.text and f"({role.value})" in response.text


POSTS = [r for r in UI_ROUTES if "POST" in r.methods]


@pytest.mark.parametrize("route", POSTS, ids=[r.name for r in POSTS])
def test_a_post_without_its_form_token_is_refused_for_every_role(
    sessions: dict[Role | None, Session], route: UIRoute
) -> None:
    for role in (None, *Role):
        response = _call(sessions[role], route, "POST", csrf=False)
        assert response.status_code == 403, (role, response.text)
        assert "Form expired" in response.text


PUBLIC_ROUTES = [
    r for r in UI_ROUTES if EXPECTED.get(r.name, row(VIEWER)).role is None and "GET" in r.methods
]


@pytest.mark.parametrize("route", PUBLIC_ROUTES, ids=[r.name for r in PUBLIC_ROUTES])
def test_public_routes_need_no_session(sessions: dict[Role | None, Session], route: UIRoute) -> None:
    response = sessions[None].http.get(route.path)
    assert response.status_code in (200, 303, 404), response.text
    assert not response.headers.get("location", "").startswith("/ui/sign-in?next=")


def _documented_rows() -> str:
    (mount,) = [r for r in ROUTES if isinstance(r, Mount) and r.name == "ui"]
    rows = []
    for route in mount.routes:
        if not isinstance(route, Route):
            continue
        rule = EXPECTED[route.name]
        for method in sorted(rule.methods):
            role = rule.role.value if rule.role else "none"
            rows.append(f"| `{method} /ui{route.path}` | {role} | `{route.name}` |\n")
    return "".join(rows)


def test_the_ui_roles_table_in_docs_matches_the_route_table() -> None:
    text = (Path(__file__).parents[2] / "docs" / "ui.md").read_text()
    block = text.split("<!-- ui-roles:begin -->\n", 1)[1].split("<!-- ui-roles:end -->", 1)[0]
    header = "| route | least role | name |\n|---|---|---|\n"
    assert block == header + _documented_rows(), "regenerate the table in docs/ui.md from EXPECTED"
