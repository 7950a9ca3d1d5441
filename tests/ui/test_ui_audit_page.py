"""/ui/audit over real HTTP against `acme-server serve`: a change made in the UI is listed with the
signed-in token (actor kind `ui`) and the request id of the form's POST; filters narrow the list and
a bad `since` is shown next to its field. (Who may open the page: tests/ui/test_ui_route_roles.py.)"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from acme_server.services.access.tokens import Role
from tests.test_serve import trust
from tests.ui.conftest import UI


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


@pytest.fixture
def admin(ui: UI) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ui.server.url, verify=trust(ui.data_dir)) as http:
        csrf = _csrf(http.get("/ui/sign-in").text)
        signed_in = http.post("/ui/sign-in", data={"csrf": csrf, "token": ui.seeded.tokens[Role.ADMIN]})
        assert signed_in.status_code == 303
        yield http


def _rows(html: str) -> list[str]:
    table = html.split('id="audit-events"', 1)[1].split("</table>", 1)[0]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in table.split("<tr>")[2:]]


def test_a_ui_change_is_listed_with_the_signed_in_token_and_request_id(ui: UI, admin: httpx.Client) -> None:
    csrf = _csrf(admin.get("/ui/tokens").text)
    made = admin.post(
        "/ui/tokens",
        data={"csrf": csrf, "name": "made-in-ui", "role": "viewer"},
        headers={"X-Request-ID": "ui-audit-42"},
    )
    assert made.status_code == 201
    page = admin.get("/ui/audit", params={"action": "token.create", "actor": "ui-admin"})
    assert page.status_code == 200
    (row,) = _rows(page.text)
    assert "ui ui-admin" in row and "token.create" in row and "name=made-in-ui" in row
    assert row.endswith("ui-audit-42")
    assert "1 events" in page.text


def test_filters_narrow_the_list_and_a_bad_since_is_shown_at_its_field(admin: httpx.Client) -> None:
    everything = _rows(admin.get("/ui/audit").text)
    assert everything  # the seeding made profiles, policies and tokens
    assert _rows(admin.get("/ui/audit", params={"since": "2999-01-01"}).text) == ["No audit events."]
    assert all("policy." in row for row in _rows(admin.get("/ui/audit", params={"action": "policy"}).text))
    refused = admin.get("/ui/audit", params={"since": "someday"})
    assert refused.status_code == 400
    assert 'id="since-error"' in refused.text and "neither a duration" in refused.text
    nul = admin.get("/ui/audit", params={"actor": "a\x00b"})
    assert nul.status_code == 400 and 'id="actor-error"' in nul.text
