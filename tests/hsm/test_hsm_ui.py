"""The CA form of the web UI in Chromium against a server whose token is SoftHSM2: an admin creates a
root and an intermediate whose keys are generated in the token (only the `pkcs11:` URI is typed; the
module and PIN are the server's), openssl verifies the chain; a URI naming a module is refused on the
form and nothing is created; a viewer sees no form. Skipped without SoftHSM2 or Chromium, failed
instead under ACME_REQUIRE_TOOLS=1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.hsm.softhsm import TOKEN, Server, SoftToken, acme_json, api_client
from tests.hsm.test_hsm_server import free_ports
from tests.tools import openssl, write
from tests.ui.conftest import browser, context, page, screenshot

__all__ = ["browser", "context", "page"]
CM = "/api/v1/cert-manager"


class HsmUI:
    def __init__(self, server: Server, tokens: dict[str, str]) -> None:
        self.server, self.tokens = server, tokens
        self.url = server.url + "/ui"

    def api(self) -> httpx.Client:
        return api_client(self.server, self.tokens["admin"])


@pytest.fixture(scope="module")
def hsm_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HsmUI]:
    directory = tmp_path_factory.mktemp("hsm-ui")
    token = SoftToken(directory / "softhsm")
    env, data = token.with_pin(), directory / "data"
    tokens = {
        role: acme_json(env, data, "token", "create", "--role", role, "--name", role)["token"]
        for role in ("admin", "viewer")
    }
    port, status_port = free_ports(2)
    server = Server(env, data, port, status_port)
    try:
        yield HsmUI(server, tokens)
    finally:
        server.stop()


def sign_in(page: Page, ui: HsmUI, role: str) -> None:
    page.goto(ui.url + "/")
    page.fill("#token", ui.tokens[role])
    page.click("button[type=submit]")
    page.wait_for_url("**/ui/certificates")


def create(page: Page, ui: HsmUI, name: str, uri: str, parent: str | None = None) -> None:
    page.goto(ui.url + "/cas")
    page.select_option("#type", "intermediate" if parent else "root")
    if parent:
        page.select_option("#parent", label=parent)
    page.fill("#name", name)
    page.fill("#pkcs11_uri", uri)
    page.click("#create-ca-submit")


def test_an_admin_creates_a_root_and_an_intermediate_in_the_token(
    hsm_ui: HsmUI, page: Page, tmp_path: Path
) -> None:
    sign_in(page, hsm_ui, "admin")
    create(page, hsm_ui, "ui-hsm-root", f"pkcs11:token={TOKEN};object=ui-root")
    page.wait_for_url("**/ui/cas/*")
    expect(page.locator("h1")).to_have_text("ui-hsm-root")
    expect(page.locator("#ca-key")).to_contain_text(f"pkcs11:token={TOKEN};object=ui-root;id=")
    create(page, hsm_ui, "ui-hsm-issuing", f"pkcs11:token={TOKEN};object=ui-issuing", parent="ui-hsm-root")
    page.wait_for_url("**/ui/cas/*")
    expect(page.locator("h1")).to_have_text("ui-hsm-issuing")
    screenshot(page, "ca-in-token")

    with hsm_ui.api() as api:
        root = api.get(f"{CM}/cas/ui-hsm-root").json()
        inter = api.get(f"{CM}/cas/ui-hsm-issuing").json()
    assert root["keyUri"].startswith(f"pkcs11:token={TOKEN};object=ui-root;id=%")
    assert inter["keyUri"].startswith(f"pkcs11:token={TOKEN};object=ui-issuing;id=%")
    root_pem = write(tmp_path / "root.pem", root["certificate"])
    inter_pem = write(tmp_path / "inter.pem", inter["certificate"])
    assert openssl("verify", "-CAfile", root_pem, root_pem).stdout.strip().endswith(": OK")
    assert openssl("verify", "-CAfile", root_pem, inter_pem).stdout.strip().endswith(": OK")


def test_a_uri_naming_a_module_is_refused_on_the_form(hsm_ui: HsmUI, page: Page) -> None:
    sign_in(page, hsm_ui, "admin")
    create(page, hsm_ui, "ui-evil", f"pkcs11:token={TOKEN};object=evil;module-path=/tmp/evil.so")
    expect(page.locator("#pkcs11_uri-error")).to_have_text(
        "pkcs11 URI: the PKCS#11 module comes from --pkcs11-module, not from the URI"
    )
    expect(page.locator("#name")).to_have_value("ui-evil")  # the form keeps what was typed
    with hsm_ui.api() as api:
        assert "ui-evil" not in {ca["name"] for ca in api.get(f"{CM}/cas").json()["cas"]}


def test_a_viewer_sees_no_ca_form(hsm_ui: HsmUI, page: Page) -> None:
    sign_in(page, hsm_ui, "viewer")
    page.goto(hsm_ui.url + "/cas")
    expect(page.locator("#cas")).to_be_visible()
    expect(page.locator("#create-ca")).to_have_count(0)
