"""The web UI in a real browser against a real server: sign-in, the certificates table and its filters,
the details page and every action of its Options menu, the CA pages, roles and CSRF."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from acme_server.services.access.tokens import Role
from tests.test_serve import trust
from tests.tools import openssl
from tests.ui.conftest import UI, screenshot, sign_in


def open_certificate(page: Page, ui: UI, common_name: str) -> None:
    page.goto(f"{ui.url}/certificates/{ui.seeded.certificates[common_name]}")
    expect(page.locator("h1")).to_have_text(common_name)


def choose(page: Page, item: str) -> None:
    """Open the Options menu and pick an entry (which opens its dialog)."""
    page.click("#options summary")
    page.click(f"#options >> text={item}")


def test_sign_in_shows_a_bad_token_next_to_the_field_and_sets_a_strict_cookie(
    page: Page, context: BrowserContext, ui: UI
) -> None:
    page.goto(ui.url + "/certificates")
    page.wait_for_url("**/ui/sign-in?next=%2Fui%2Fcertificates")
    screenshot(page, "sign-in")
    page.fill("#token", "not-a-token")
    page.click("button[type=submit]")
    expect(page.locator("#token-error")).to_be_visible()
    expect(page.locator("#token")).to_have_attribute("aria-invalid", "true")
    sign_in(page, ui)
    expect(page.locator(".who")).to_contain_text("operator")
    (cookie,) = [c for c in context.cookies() if c["name"] == "acme_ui_session"]
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    assert ui.seeded.tokens[Role.OPERATOR] not in cookie["value"]  # sealed, not just signed


def test_sign_out_ends_the_session(page: Page, context: BrowserContext, ui: UI) -> None:
    def session_cookie() -> str:
        return next(c["value"] for c in context.cookies() if c["name"] == "acme_ui_session")

    sign_in(page, ui)
    signed_in = session_cookie()
    page.click("text=Sign out")
    page.wait_for_url("**/ui/sign-in")
    assert session_cookie() != signed_in  # replaced by an anonymous session (a fresh CSRF token only)
    page.goto(ui.url + "/certificates")
    page.wait_for_url("**/ui/sign-in?next=*")  # the inventory is no longer reachable
    expect(page.locator("#token")).to_be_visible()
    expect(page.locator("#certificates")).to_have_count(0)


def test_table_lists_every_column_and_filters_by_metadata(page: Page, ui: UI) -> None:
    sign_in(page, ui)
    rows = page.locator("#certificates tbody tr")
    expect(rows.filter(has_text="payments.example.com")).to_have_count(1)
    first = rows.filter(has_text="search.example.com")
    for text in ("search", "active", "default", "dev-intermediate", "UTC"):
        expect(first).to_contain_text(text)
    screenshot(page, "certificates")
    page.fill("#metadata", "team=payments")
    page.click("text=Filter")
    expect(rows).to_have_count(2)
    expect(page.locator("#certificates")).not_to_contain_text("search.example.com")
    page.fill("#metadata", "team=payments")
    page.select_option("#status", "active")
    page.fill("#q", "ledger")
    page.click("text=Filter")
    expect(rows).to_have_count(1)
    rows.first.locator("td").nth(2).click()  # a click anywhere on the row opens the details
    page.wait_for_url("**/ui/certificates/*")
    expect(page.locator("h1")).to_have_text("ledger.example.com")


def test_bad_filters_are_shown_next_to_their_field(page: Page, ui: UI) -> None:
    sign_in(page, ui)
    page.goto(ui.url + "/certificates?metadata=team&expiring=soon")
    expect(page.locator("#metadata-error")).to_contain_text("key=value")
    expect(page.locator("#expiring-error")).to_contain_text("'soon'")


def test_details_page_shows_every_section(page: Page, ui: UI) -> None:
    sign_in(page, ui)
    open_certificate(page, ui, "payments.example.com")
    overview = page.locator("#overview")
    expect(overview).to_contain_text("payments")  # friendly name
    not_after = overview.locator("time").nth(1)
    expect(not_after).to_contain_text("UTC")
    # hovering shows the reader's local time (the browser runs in Asia/Kolkata, UTC+05:30)
    utc = datetime.fromisoformat(not_after.get_attribute("datetime") or "")
    local = utc.astimezone(timezone(timedelta(hours=5, minutes=30)))
    expected = f"{local.month}/{local.day}/{local.year}, {local.strftime('%-I:%M:%S %p')} (local time)"
    expect(not_after).to_have_attribute("title", expected)
    expect(page.locator("#issuance a").first).to_have_text("dev-intermediate")
    expect(page.locator("#subject")).to_contain_text("Example")
    expect(page.locator("#subject")).to_contain_text("DE")
    expect(page.locator("#extensions")).to_contain_text("server_auth")
    expect(page.locator("#extensions")).to_contain_text("CA: FALSE")
    # this server's CRL, on its plain-HTTP status listener
    expect(page.locator("#extensions")).to_contain_text(ui.server.status_url + "/crl/")
    expect(page.locator("#sha256")).to_have_text(re.compile(r"^([0-9A-F]{2}:){31}[0-9A-F]{2}$"))
    expect(page.locator("#sha1")).to_have_text(re.compile(r"^([0-9A-F]{2}:){19}[0-9A-F]{2}$"))
    screenshot(page, "certificate-details")
    page.click("#issuance a")
    page.wait_for_url("**/ui/cas/*")
    expect(page.locator("h1")).to_have_text("dev-intermediate")


def test_edit_metadata(page: Page, ui: UI) -> None:
    sign_in(page, ui)
    open_certificate(page, ui, "search.example.com")
    page.locator("input[name=value]").first.fill("production")  # env=prod -> production
    page.locator("input[aria-label='new key']").fill("owner")
    page.locator("input[aria-label='new value']").fill("alice")
    page.click("text=Save metadata")
    page.wait_for_load_state()
    expect(page.locator("input[name=key]").nth(1)).to_have_value("owner")
    page.goto(ui.url + "/certificates?metadata=owner=alice&metadata=env=production")
    expect(page.locator("#certificates tbody tr")).to_have_count(1)
    expect(page.locator("#certificates")).to_contain_text("search.example.com")


def test_export_pem_shows_each_part_with_copy_buttons(page: Page, context: BrowserContext, ui: UI) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=ui.server.url)
    sign_in(page, ui)
    open_certificate(page, ui, "payments.example.com")
    choose(page, "Export certificate")
    page.click("#export-pem")
    dialog = page.locator("#pem-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#pem-certificate")).to_have_value(re.compile(r"^-----BEGIN CERTIFICATE-----"))
    expect(dialog.locator("#pem-key")).to_have_value(re.compile(r"^-----BEGIN PRIVATE KEY-----"))
    assert dialog.locator("#pem-chain").input_value().count("BEGIN CERTIFICATE") >= 2
    screenshot(page, "export-pem")
    parts = [dialog.locator(f"#pem-{p}").input_value() for p in ("certificate", "chain", "key")]
    dialog.locator("#copy-all").click()
    expect(dialog.locator("#copy-all")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "".join(parts)
    dialog.locator(".pem").nth(2).get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == parts[2]


def test_export_pkcs12_downloads_a_p12_openssl_opens(page: Page, ui: UI, tmp_path: Path) -> None:
    sign_in(page, ui)
    open_certificate(page, ui, "payments.example.com")
    choose(page, "Export certificate")
    page.fill("#p12-password", "s3cret-Pass")
    page.fill("#p12-alias", "payments")
    with page.expect_download() as download:
        page.click("#export-p12")
    assert download.value.suggested_filename == "payments.p12"
    p12 = tmp_path / "payments.p12"
    download.value.save_as(p12)
    certs = openssl("pkcs12", "-in", str(p12), "-nokeys", "-clcerts", "-passin", "pass:s3cret-Pass").stdout
    assert "subject=" in certs and "payments.example.com" in certs and "friendlyName: payments" in certs
    keys = openssl("pkcs12", "-in", str(p12), "-nocerts", "-nodes", "-passin", "pass:s3cret-Pass").stdout
    assert "BEGIN PRIVATE KEY" in keys


def test_pkcs12_without_password_is_refused_next_to_the_field(page: Page, ui: UI) -> None:
    sign_in(page, ui)
    open_certificate(page, ui, "payments.example.com")
    choose(page, "Export certificate")
    page.locator("#p12-password").evaluate("e => e.removeAttribute('required')")
    page.click("#export-p12")
    expect(page.locator("#password-error")).to_have_text("a password is required")


def test_revoke_with_a_reason_changes_the_status(page: Page, ui: UI) -> None:
    sign_in(page, ui)
    open_certificate(page, ui, "revoke-me.example.com")
    choose(page, "Revoke certificate")
    dialog = page.locator("#revoke-dialog")
    expect(dialog).to_be_visible()
    dialog.locator("#reason").select_option("KEY_COMPROMISE")
    dialog.locator("input[name=confirm]").check()
    screenshot(page, "revoke")
    dialog.locator("#revoke-submit").click()
    expect(page.locator(".page-head .badge")).to_have_text("revoked")
    expect(page.locator("#overview")).to_contain_text("KEY_COMPROMISE")
    expect(page.locator("#options")).not_to_contain_text("Revoke certificate")
    page.goto(ui.url + "/certificates?status=revoked")
    expect(page.locator("#certificates tbody tr")).to_have_count(1)
    expect(page.locator("#certificates")).to_contain_text("revoke-me.example.com")


def test_renew_now_links_the_renewal_chain_both_ways(page: Page, ui: UI) -> None:
    sign_in(page, ui)
    old_id = ui.seeded.certificates["renew-me.example.com"]
    open_certificate(page, ui, "renew-me.example.com")
    choose(page, "Renew now")
    page.wait_for_url(re.compile(r".*/ui/certificates/(?!" + old_id + ").+"))
    expect(page.locator("h1")).to_have_text("renew-me.example.com")
    expect(page.locator("#renewed-from")).to_have_text(old_id)
    expect(page.locator("#metadata input[name=value]").nth(1)).to_have_value("gold")  # carried over
    new_url = page.url
    page.click("#renewed-from")
    expect(page.locator(".page-head .badge")).to_have_text("superseded")
    page.click("#renewed-by")
    assert page.url == new_url
    chain = page.locator("#renewal-chain li")  # oldest first, this one marked
    expect(chain).to_have_count(2)
    expect(chain.nth(1)).to_have_text("this certificate")
    chain.nth(0).locator("a").click()
    expect(page.locator("#renewed-by")).to_be_visible()


def test_auto_renewal_is_switched_on_and_off_from_the_menu(page: Page, ui: UI) -> None:
    sign_in(page, ui)
    open_certificate(page, ui, "payments.example.com")
    expect(page.locator("#auto-renewal")).to_have_text(re.compile(r"^\s*disabled"))
    choose(page, "Enable auto-renewal")
    expect(page.locator("#auto-renewal")).to_contain_text("enabled, due")
    choose(page, "Disable auto-renewal")
    expect(page.locator("#auto-renewal")).to_have_text(re.compile(r"^\s*disabled"))


def test_syncs_are_added_pushed_and_removed_from_the_details_page(page: Page, ui: UI, tmp_path: Path) -> None:
    target = tmp_path / "nginx-tls"
    sign_in(page, ui)
    open_certificate(page, ui, "search.example.com")
    choose(page, "Manage syncs")
    page.fill("#sync_name", "web-files")
    page.select_option("#destination_type", "directory")
    expect(page.locator("#sync-fields-aws-acm")).to_be_hidden()  # only the chosen type's fields
    page.fill("#directory-path", "relative/dir")
    page.click("#add-sync")
    expect(page.locator("#directory-path-error")).to_contain_text("absolute")  # next to the field
    expect(page.locator("#directory-path")).to_have_value("relative/dir")
    page.fill("#directory-path", str(target))
    page.click("#add-sync")
    row = page.locator("#sync-list tbody tr", has_text="web-files")
    expect(row).to_contain_text("ok")
    assert sorted(p.name for p in target.iterdir()) == [
        "cert.pem",
        "chain.pem",
        "fullchain.pem",
        "privkey.pem",
    ]
    subject = openssl("x509", "-in", str(target / "cert.pem"), "-noout", "-subject").stdout
    assert "search.example.com" in subject
    screenshot(page, "syncs")
    (target / "cert.pem").unlink()
    row.get_by_role("button", name="Push now").click()
    expect(row).to_contain_text("ok")
    assert (target / "cert.pem").exists()
    row.get_by_role("button", name="Remove").click()
    expect(page.locator("#sync-list")).not_to_contain_text("web-files")


def test_delete_after_confirmation(page: Page, ui: UI) -> None:
    sign_in(page, ui)
    open_certificate(page, ui, "delete-me.example.com")
    choose(page, "Delete certificate")
    page.locator("#delete-dialog input[name=confirm]").check()
    page.click("#delete-submit")
    page.wait_for_url("**/ui/certificates")
    expect(page.locator("#certificates")).not_to_contain_text("delete-me.example.com")
    page.goto(f"{ui.url}/certificates/{ui.seeded.certificates['delete-me.example.com']}")
    expect(page.locator("h1")).to_have_text("Not found")


def test_viewer_sees_no_action(page: Page, ui: UI) -> None:
    sign_in(page, ui, Role.VIEWER)
    open_certificate(page, ui, "payments.example.com")
    expect(page.locator("#options")).to_have_count(0)
    expect(page.locator("main form")).to_have_count(0)  # no action of any kind, only Sign out
    expect(page.locator("main button")).to_have_count(0)
    expect(page.locator("form[action$='/metadata']")).to_have_count(0)
    expect(page.locator("dialog")).to_have_count(0)
    expect(page.locator("#metadata")).to_contain_text("payments")
    screenshot(page, "certificate-details-viewer")
    # and the actions themselves refuse a viewer, even with a valid form token
    csrf = page.locator("header input[name=csrf]").input_value()
    response = page.request.post(
        f"{ui.url}/certificates/{ui.seeded.certificates['payments.example.com']}/revoke",
        form={"csrf": csrf, "confirm": "yes", "reason": "UNSPECIFIED"},
    )
    assert response.status == 403


def test_a_form_without_its_csrf_token_is_rejected(page: Page, ui: UI) -> None:
    sign_in(page, ui)
    open_certificate(page, ui, "ledger.example.com")
    page.locator("form[action$='/metadata'] input[name=csrf]").evaluate("e => e.value = 'forged'")
    page.locator("input[aria-label='new key']").fill("forged")
    page.click("text=Save metadata")
    expect(page.locator("h1")).to_have_text("Form expired")
    assert page.locator("body").inner_text().count("security token") == 1
    open_certificate(page, ui, "ledger.example.com")
    expect(page.locator("input[name=key][value=forged]")).to_have_count(0)


def test_cas_list_and_details_with_chain_and_crl(page: Page, ui: UI) -> None:
    sign_in(page, ui, Role.VIEWER)
    page.click("nav >> text=CAs")
    expect(page.locator("#cas tbody tr")).to_have_count(3)
    screenshot(page, "cas")
    page.locator("#cas tbody tr", has_text="dev-intermediate").click()
    page.wait_for_url("**/ui/cas/*")
    expect(page.locator("#chain li")).to_have_count(2)  # the intermediate, then its root
    screenshot(page, "ca-details")
    href = page.locator("#download-crl").get_attribute("href")
    assert href is not None
    crl = httpx.get(ui.server.url + href, verify=trust(ui.data_dir))
    assert crl.status_code == 200 and crl.headers["content-type"] == "application/pkix-crl"


def test_an_unknown_page_is_a_page_too(page: Page, ui: UI) -> None:
    sign_in(page, ui, Role.VIEWER)
    response = page.goto(ui.url + "/no/such/page")
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_have_text("Not found")
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
