"""What every UI page shares: the session and signed-in user, CSRF on every POST, role checks, template
rendering with safe headers, and service errors turned into pages. Handlers get a `Page` and call
services; they never see cookies or tokens."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from acme_server.errors import RateLimited
from acme_server.observability import logs
from acme_server.problems import problem_for
from acme_server.services.access import ui_sessions
from acme_server.services.access.tokens import Role, TokenInfo
from acme_server.services.access.ui_sessions import LIFETIME
from acme_server.services.platform import audit
from acme_server.services.runtime import Runtime
from acme_server.statuses import AccountStatus, CAStatus, CertificateStatus
from acme_server.ui.session import COOKIE, Session, SessionCodec
from ca_core.errors import CAError

log = logging.getLogger(__name__)
SIGN_IN = "ui:sign_in"
# script-src 'self': no inline script anywhere, so injected markup cannot run code.
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

# which navigation entry a page belongs to
SECTIONS: Mapping[str, str] = {
    "certificates.html": "certificates",
    "certificate.html": "certificates",
    "requests.html": "requests",
    "cas.html": "cas",
    "ca.html": "cas",
    "syncs.html": "syncs",
    "accounts.html": "accounts",
    "account.html": "accounts",
    "eab_keys.html": "eab",
    "tokens.html": "tokens",
    "audit.html": "audit",
}

templates = jinja2.Environment(
    loader=jinja2.PackageLoader("acme_server.ui", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def utc(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


templates.filters["utc"] = utc
# Templates compare statuses with the members, never with bare strings.
templates.globals.update(AccountStatus=AccountStatus, CAStatus=CAStatus, CertificateStatus=CertificateStatus)


@dataclass
class Page:
    """One request as a handler sees it."""

    request: Request
    rt: Runtime
    session: Session
    user: TokenInfo | None
    form: FormData | None = None
    _new_session: Session | None = field(default=None, repr=False)

    def may(self, required: Role) -> bool:
        """Whether the signed-in token's role covers `required` (the services' one role rule)."""
        return self.user is not None and self.user.role.allows(required)

    def url(self, name: str, /, query: Mapping[str, Any] | None = None, **params: Any) -> str:
        path = _path(self.request, name, params)
        given = {k: v for k, v in (query or {}).items() if v not in ("", None, [])}
        return f"{path}?{urlencode(given, doseq=True)}" if given else path

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        kind = context.get("kind")  # a profile's or policy's pages (ui/documents.py)
        context.setdefault("section", kind.plural if kind is not None else SECTIONS.get(template, ""))
        context.setdefault("Role", Role)
        html = templates.get_template(template).render(
            page=self, user=self.user, csrf=self.session.csrf, url=self.url, **context
        )
        return HTMLResponse(html, status_code=status)

    def redirect(self, name: str, /, query: Mapping[str, Any] | None = None, **params: Any) -> Response:
        return RedirectResponse(self.url(name, query, **params), status_code=303)

    def field(self, name: str, default: str = "") -> str:
        """A submitted form field (or query parameter on GET), stripped."""
        source = self.form if self.form is not None else self.request.query_params
        value = source.get(name)
        return value.strip() if isinstance(value, str) else default

    def start_session(self, session: Session) -> None:
        """Replace the session (sign-in, sign-out): the response carries the new cookie."""
        self.session = session
        self._new_session = session


Handler = Callable[[Page], Awaitable[Response]]

# Route name and parameter names -> the path with a marker per parameter. Starlette's url_path_for
# walks the whole route table (ACME, API, UI) on every call, and a table page builds dozens of links.
_PATH_TEMPLATES: dict[tuple[str, frozenset[str]], str] = {}


def _path(request: Request, name: str, params: Mapping[str, Any]) -> str:
    if "path" in params:  # the static files' path may hold slashes: no template
        return str(request.app.url_path_for(f"ui:{name}", **params))
    key = (name, frozenset(params))
    template = _PATH_TEMPLATES.get(key)
    if template is None:
        markers = {k: f"\x00{k}\x00" for k in params}
        template = _PATH_TEMPLATES[key] = str(request.app.url_path_for(f"ui:{name}", **markers))
    for k, v in params.items():
        template = template.replace(f"\x00{k}\x00", quote(str(v), safe=""))
    return template


def _codec(request: Request) -> SessionCodec:
    state = request.app.state
    codec: SessionCodec | None = getattr(state, "ui_session_codec", None)
    if codec is None:
        codec = SessionCodec(state.runtime.kek)
        state.ui_session_codec = codec
    return codec


def _set_cookie(request: Request, response: Response, session: Session) -> None:
    response.set_cookie(
        COOKIE,
        _codec(request).encode(session),
        max_age=int(LIFETIME.total_seconds()),
        path="/ui",
        httponly=True,
        samesite="strict",
        # Secure when this request came over HTTPS or the public URL is HTTPS (TLS ended at a proxy)
        secure=request.url.scheme == "https" or request.app.state.runtime.public_url.startswith("https://"),
    )


async def _user(rt: Runtime, session: Session) -> TokenInfo | None:
    """The signed-in token, or None (also when the session ended since: signed out elsewhere, timed
    out, token revoked — sign in again)."""
    return None if session.secret is None else await ui_sessions.session_user(rt, session.secret)


def _error(page: Page, status: int, title: str, detail: str) -> Response:
    return page.render("error.html", status=status, title=title, detail=detail)


async def _run(page: Page, handler: Handler, required: Role | None) -> Response:
    if page.request.method == "POST":
        page.form = await page.request.form()
        if not page.session.accepts(page.form.get("csrf") if page.form else None):  # type: ignore[arg-type]
            return _error(page, 403, "Form expired", "The form's security token is missing or stale; reload.")
    if required is not None:
        if page.user is None:
            return page.redirect("sign_in", {"next": page.request.url.path})
        if not page.may(required):
            return _error(page, 403, "Not allowed", f"Your token's role ({page.user.role}) may not do this.")
    user = page.user
    try:
        with audit.acting(audit.token_actor(user.id, user.name, ui=True) if user else audit.UNATTRIBUTED):
            return await handler(page)
    except CAError as exc:
        status = problem_for(exc)[1]
        detail = exc.detail if status < 500 else "The server could not complete the request."
        if isinstance(exc, RateLimited):  # RFC 6585 §4
            response = _error(page, status, "Too many attempts", detail)
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        return _error(page, status, "Not found" if status == 404 else "Could not do that", detail)


def _unexpected(page: Page, exc: Exception) -> Response:
    """A bug or an outage: logged with its traceback, shown as a page naming the request id the log
    line carries (so a report leads to it), and nothing of the error itself."""
    log.error("unexpected error on %s", page.request.url.path, exc_info=exc)
    request_id = logs.REQUEST_ID.get()
    detail = "The server could not complete the request. It has been logged"
    detail += f" with request id {request_id}." if request_id else "."
    return _error(page, 500, "Something went wrong", detail)


Endpoint = Callable[[Request], Awaitable[Response]]


def page(required: Role | None = Role.VIEWER) -> Callable[[Handler], Endpoint]:
    """Wrap a handler: session in, CSRF checked on POST, sign-in with a role covering `required`
    (None: a public page), service errors rendered as a page with the status of the one error table."""

    def wrap(handler: Handler) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            rt: Runtime = request.app.state.runtime
            now = rt.clock.now()
            session = _codec(request).decode(request.cookies.get(COOKIE), now)
            current = Page(request, rt, session or Session.new(now), None)
            if session is None:
                current.start_session(current.session)
            try:
                current.user = await _user(rt, current.session)
                response = await _run(current, handler, required)
            except Exception as exc:  # the UI's error edge: a page, never a traceback or a JSON problem
                response = _unexpected(current, exc)
            if current._new_session is not None:
                _set_cookie(request, response, current._new_session)
            response.headers.update(SECURITY_HEADERS)
            return response

        endpoint.__name__ = handler.__name__
        return endpoint

    return wrap
