"""The Certificate requests page and its Request dialog in a real browser: Managed and CSR requests,
and each refusal shown next to the field it concerns."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from acme_server.services.access.tokens import Role
from tests.tools import openssl
from tests.ui.conftest import UI, screenshot, sign_in


def open_dialog(page: Page, ui: UI) -> None:
    sign_in(page, ui)
    page.click("nav >> text=Certificate requests")
    page.wait_for_url("**/ui/requests")
    page.click("#new-request")
    expect(page.locator("#request-dialog")).to_be_visible()


def test_managed_request_issues_and_is_listed_with_its_metadata(page: Page, ui: UI) -> None:
    open_dialog(page, ui)
    dialog = page.locator("#request-dialog")
    expect(dialog.locator("#csr")).to_be_hidden()  # only the chosen method's fields
    dialog.locator("#profile").select_option("default")
    dialog.locator("#common_name").fill("new.example.com")
    dialog.locator("#organization").fill("Example")
    dialog.locator("#dns").fill("new.example.com, www.new.example.com")
    dialog.locator("#ip").fill("10.0.0.7")
    dialog.locator("#key_algorithm").select_option("ED25519")
    dialog.locator("#ttl").fill("30d")
    dialog.locator("#request-metadata").fill("team=web\nenv=prod")
    screenshot(page, "request-dialog")
    dialog.locator("#request-submit").click()
    page.wait_for_url(re.compile(r".*/ui/certificates/.+"))
    expect(page.locator("h1")).to_have_text("new.example.com")
    for name in ("www.new.example.com", "10.0.0.7"):
        expect(page.locator("#subject")).to_contain_text(name)
    expect(page.locator("#crypto")).to_contain_text("ED25519")
    page.goto(ui.url + "/requests?metadata=team=web")
    rows = page.locator("#requests tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("issued")
    expect(rows.first).to_contain_text("env=prod")
    screenshot(page, "requests")


def test_csr_request_keeps_the_key_with_the_requester(page: Page, ui: UI, tmp_path: Path) -> None:
    key, csr = tmp_path / "key.pem", tmp_path / "csr.pem"
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(key), "-out", str(csr), "-subj", "/CN=csr.example.com",
            "-addext", "subjectAltName=DNS:csr.example.com")  # fmt: skip
    open_dialog(page, ui)
    page.check("input[name=method][value=csr]")
    expect(page.locator("#common_name")).to_be_hidden()
    page.fill("#csr", csr.read_text())
    page.click("#request-submit")
    page.wait_for_url(re.compile(r".*/ui/certificates/.+"))
    expect(page.locator("h1")).to_have_text("csr.example.com")
    expect(page.locator("#issuance")).to_contain_text("held by the requester")


def test_a_bad_csr_is_shown_next_to_the_field(page: Page, ui: UI) -> None:
    open_dialog(page, ui)
    page.check("input[name=method][value=csr]")
    garbage = "-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n-----END CERTIFICATE REQUEST-----\n"
    page.fill("#csr", garbage)
    page.click("#request-submit")
    error = page.locator("#request-dialog #csr-error")
    expect(error).to_be_visible()
    expect(page.locator("#csr")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#csr")).to_have_value(garbage)  # what was typed is kept
    expect(page.locator("input[name=method][value=csr]")).to_be_checked()
    screenshot(page, "request-bad-csr")
    page.goto(ui.url + "/requests?status=failed")
    expect(page.locator("#requests tbody tr").first).to_contain_text("failed")


def test_a_policy_violation_is_shown_next_to_the_field(page: Page, ui: UI) -> None:
    open_dialog(page, ui)
    page.select_option("#profile", "internal")
    page.fill("#common_name", "api.svc.example.internal")
    page.fill("#dns", "evil.example.com")
    page.click("#request-submit")
    expect(page.locator("#dns-error")).to_contain_text("evil.example.com")
    expect(page.locator("#dns-error")).to_contain_text("*.svc.example.internal")
    expect(page.locator("#dns")).to_have_value("evil.example.com")


def test_a_ttl_over_the_profile_maximum_is_shown_next_to_the_field(page: Page, ui: UI) -> None:
    open_dialog(page, ui)
    page.fill("#common_name", "long.example.com")
    page.fill("#ttl", "100y")
    page.click("#request-submit")
    expect(page.locator("#ttl-error")).to_contain_text("exceeds the profile's maximum")


def test_viewer_sees_requests_but_no_request_button(page: Page, ui: UI) -> None:
    sign_in(page, ui, Role.VIEWER)
    page.goto(ui.url + "/requests")
    expect(page.locator("#new-request")).to_have_count(0)
    expect(page.locator("#request-dialog")).to_have_count(0)
