"""Sign-in with an API token and sign-out. The token's role decides what the pages offer."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from acme_server.errors import Unauthorized
from acme_server.services.access import ui_sessions
from acme_server.services.platform import rate_limits
from acme_server.ui.pages import Page, page
from acme_server.ui.session import Session


def _next_path(current: Page) -> str:
    """Where to go after signing in: only a path of ours (never another site: no open redirect)."""
    target = current.field("next")
    if target.startswith("/ui/") and not target.startswith("//") and "\\" not in target:
        return target
    return current.url("certificates")


@page(None)
async def sign_in(current: Page) -> Response:
    if current.request.method == "GET":
        if current.user is not None:
            return RedirectResponse(_next_path(current), status_code=303)
        return current.render("sign_in.html", next=current.field("next"), errors={})
    plaintext = current.field("token")
    try:
        client_ip = current.request.client.host if current.request.client else None
        token = await rate_limits.authenticate_token(current.rt, plaintext, client_ip=client_ip, ui=True)
    except Unauthorized as exc:
        return current.render(
            "sign_in.html", status=401, next=current.field("next"), errors={"token": exc.detail}
        )
    if current.session.secret is not None:  # signing in again: the old session ends
        await ui_sessions.end_session(current.rt, current.session.secret)
    secret = await ui_sessions.start_session(current.rt, token)
    current.start_session(Session.new(current.rt.clock.now(), secret=secret))
    return RedirectResponse(_next_path(current), status_code=303)


@page(None)
async def sign_out(current: Page) -> Response:
    """Ends the server-side session, so every copy of this cookie is signed out too."""
    if current.session.secret is not None:
        await ui_sessions.end_session(current.rt, current.session.secret)
    current.start_session(Session.new(current.rt.clock.now()))
    return current.redirect("sign_in")
