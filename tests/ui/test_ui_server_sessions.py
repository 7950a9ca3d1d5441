"""Server-side UI sessions over real HTTP: a copied session cookie stops working the moment the
browser it was copied from signs out (the session row is gone), and the cookie never holds the
API token."""

from __future__ import annotations

import re

import httpx

from acme_server.services.access.tokens import Role
from tests.test_serve import trust
from tests.ui.conftest import UI

COOKIE = "acme_ui_session"


def _client(ui: UI) -> httpx.Client:
    return httpx.Client(base_url=ui.server.url, verify=trust(ui.data_dir))


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_a_copied_cookie_stops_working_after_sign_out(ui: UI) -> None:
    with _client(ui) as browser, _client(ui) as thief:
        csrf = _csrf(browser.get("/ui/sign-in").text)
        token = ui.seeded.tokens[Role.OPERATOR]
        assert browser.post("/ui/sign-in", data={"csrf": csrf, "token": token}).status_code == 303
        cookie = browser.cookies[COOKIE]
        assert token not in cookie
        thief.cookies.set(COOKIE, cookie, domain="127.0.0.1", path="/ui")
        assert thief.get("/ui/certificates").status_code == 200  # the copy works while signed in
        csrf = _csrf(browser.get("/ui/certificates").text)
        assert browser.post("/ui/sign-out", data={"csrf": csrf}).status_code == 303
        refused = thief.get("/ui/certificates")
        assert refused.status_code == 303
        assert refused.headers["location"] == "/ui/sign-in?next=%2Fui%2Fcertificates"
        # and the browser that signed out is signed out too
        assert browser.get("/ui/certificates").status_code == 303


def test_signing_in_again_ends_the_previous_session(ui: UI) -> None:
    with _client(ui) as browser, _client(ui) as copy:
        csrf = _csrf(browser.get("/ui/sign-in").text)
        browser.post("/ui/sign-in", data={"csrf": csrf, "token": ui.seeded.tokens[Role.VIEWER]})
        copy.cookies.set(COOKIE, browser.cookies[COOKIE], domain="127.0.0.1", path="/ui")
        csrf = _csrf(browser.get("/ui/certificates").text)
        again = browser.post("/ui/sign-in", data={"csrf": csrf, "token": ui.seeded.tokens[Role.ADMIN]})
        assert again.status_code == 303
        assert copy.get("/ui/certificates").status_code == 303
        assert "admin" in browser.get("/ui/certificates").text
