"""Add a sync is a form per destination type, not JSON: every destination has its fields, the chosen
type's are shown, and the settings only an admin may make (a reload command, an endpoint URL) are
offered to admins only."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from acme_server.destinations import DESTINATIONS
from acme_server.services.access.tokens import Role
from acme_server.ui.sync_forms import SYNC_FORMS
from tests.ui.conftest import UI, screenshot, sign_in


def test_every_destination_type_has_a_form() -> None:
    assert sorted(SYNC_FORMS) == sorted(DESTINATIONS)
    for destination_type, fields in SYNC_FORMS.items():
        secrets = {f.key for f in fields if f.part == "secrets"}
        assert secrets == set(DESTINATIONS[destination_type].secret_names), destination_type


def open_add_sync(page: Page, ui: UI, role: Role) -> None:
    sign_in(page, ui, role)
    page.goto(f"{ui.url}/certificates/{ui.seeded.certificates['ledger.example.com']}?syncs=open#syncs")


def test_the_chosen_destination_types_fields_are_shown(page: Page, ui: UI) -> None:
    open_add_sync(page, ui, Role.OPERATOR)
    expect(page.locator("#directory-path")).to_be_visible()
    expect(page.locator("#aws-acm-region")).to_be_hidden()
    page.select_option("#destination_type", "aws-acm")
    expect(page.locator("#directory-path")).to_be_hidden()
    for field in ("region", "certificateArn", "tags", "accessKeyId", "secretAccessKey", "sessionToken"):
        expect(page.locator(f"#aws-acm-{field}")).to_be_visible()
    expect(page.locator("#aws-acm-secretAccessKey")).to_have_attribute("type", "password")
    page.locator("details.add-sync").scroll_into_view_if_needed()
    screenshot(page, "sync-form")
    # an operator is not offered what only an admin may set
    expect(page.locator("#aws-acm-endpointUrl")).to_have_count(0)
    expect(page.locator("#directory-reloadCommand")).to_have_count(0)


def test_admins_are_offered_the_reload_command_and_endpoint(page: Page, ui: UI) -> None:
    open_add_sync(page, ui, Role.ADMIN)
    expect(page.locator("#directory-reloadCommand option")).to_have_text(["none"])  # none configured
    expect(page.locator("#directory-reloadTimeout")).to_be_visible()
    page.select_option("#destination_type", "aws-acm")
    expect(page.locator("#aws-acm-endpointUrl")).to_be_visible()


def test_a_refused_secret_is_shown_next_to_its_field(page: Page, ui: UI) -> None:
    open_add_sync(page, ui, Role.OPERATOR)
    page.fill("#sync_name", "acm-half")
    page.select_option("#destination_type", "aws-acm")
    page.fill("#aws-acm-region", "eu-central-1")
    page.fill("#aws-acm-accessKeyId", "AKIAEXAMPLE")  # without its secret access key
    page.click("#add-sync")
    expect(page.locator("#sync-error")).to_contain_text("accessKeyId and secretAccessKey together")
    expect(page.locator("#sync-list")).not_to_contain_text("acm-half")
    expect(page.locator("#aws-acm-region")).to_have_value("eu-central-1")  # what was typed is kept
    assert "AKIAEXAMPLE" not in page.content()  # a secret is never sent back


def test_the_syncs_page_adds_a_profile_sync_pushes_and_removes_it(page: Page, ui: UI, tmp_path: Path) -> None:
    target = tmp_path / "default-latest"
    sign_in(page, ui, Role.OPERATOR)
    page.click("header nav >> text=Syncs")
    page.wait_for_url("**/ui/syncs")
    page.fill("#sync_name", "default-latest")
    page.check("input[name=follows][value=certificate]")
    page.fill("#follow-certificate", "no-such-certificate")
    page.fill("#directory-path", str(target))
    with page.expect_response(lambda r: r.request.method == "POST") as refused:
        page.click("#add-sync")
    assert refused.value.status == 404
    expect(page.locator("#sync-error")).to_contain_text("no-such-certificate")
    page.check("input[name=follows][value=profile]")
    page.select_option("#follow-profile", "default")
    page.click("#add-sync")
    page.wait_for_url("**/ui/syncs")
    row = page.locator("#sync-list tbody tr", has_text="default-latest")
    expect(row).to_contain_text("the newest certificate of profile default")
    expect(row.locator(".badge")).to_have_text("ok")
    assert (target / "fullchain.pem").exists()
    screenshot(page, "syncs-page")
    (target / "cert.pem").unlink()
    row.get_by_role("button", name="Push now").click()
    expect(row.locator(".badge")).to_have_text("ok")
    assert (target / "cert.pem").exists()
    row.get_by_role("button", name="Remove").click()
    expect(page.locator("#sync-list")).not_to_contain_text("default-latest")


def test_a_viewer_sees_the_syncs_but_no_form(page: Page, ui: UI) -> None:
    sign_in(page, ui, Role.VIEWER)
    page.goto(ui.url + "/syncs")
    expect(page.locator("#sync-list")).to_be_visible()
    expect(page.locator("main form")).to_have_count(0)


def test_the_webhook_and_key_vault_forms_and_the_webhook_block_list(page: Page, ui: UI) -> None:
    sign_in(page, ui, Role.OPERATOR)
    page.goto(ui.url + "/syncs")
    page.select_option("#destination_type", "azure-keyvault")
    for field in ("vaultUrl", "certificateName", "tenantId", "clientId", "tags", "clientSecret"):
        expect(page.locator(f"#azure-keyvault-{field}")).to_be_visible()
    expect(page.locator("#azure-keyvault-clientSecret")).to_have_attribute("type", "password")
    expect(page.locator("#azure-keyvault-authorityHost")).to_have_count(0)  # an admin's choice
    page.select_option("#destination_type", "webhook")
    expect(page.locator("#azure-keyvault-vaultUrl")).to_be_hidden()
    for field in ("url", "body", "caCertificates", "timeout", "hmacKey"):
        expect(page.locator(f"#webhook-{field}")).to_be_visible()
    expect(page.locator("#webhook-body option")).to_have_text(["bundle", "metadata"])
    expect(page.locator("#webhook-includeKey")).to_have_count(0)  # sending the key: admins only
    # the server's block list (loopback, by default) refuses an internal address, under its field
    page.fill("#sync_name", "hook-internal")
    page.fill("#webhook-url", "https://127.0.0.1:9/hooks")
    page.fill("#webhook-hmacKey", "ui-hmac-key-0123456789")
    page.click("#add-sync")
    expect(page.locator("#webhook-url-error")).to_contain_text(
        "127.0.0.1 is in a blocked network (127.0.0.0/8)"
    )
    expect(page.locator("#webhook-url")).to_have_value("https://127.0.0.1:9/hooks")
    expect(page.locator("#sync-list")).not_to_contain_text("hook-internal")
    assert "ui-hmac-key-0123456789" not in page.content()


def test_admins_are_offered_the_webhook_key_and_another_authority(page: Page, ui: UI) -> None:
    sign_in(page, ui, Role.ADMIN)
    page.goto(ui.url + "/syncs")
    page.select_option("#destination_type", "webhook")
    expect(page.locator("#webhook-includeKey")).to_be_visible()
    expect(page.locator("#webhook-includeKey")).to_have_attribute("type", "checkbox")
    page.select_option("#destination_type", "azure-keyvault")
    expect(page.locator("#azure-keyvault-authorityHost")).to_be_visible()


def test_a_failed_queued_push_shows_when_it_is_tried_again(page: Page, ui: UI) -> None:
    """A renewal queues a push; when it fails the push worker queues a retry, and the Syncs page says
    when (here a webhook to TEST-NET-1, which never answers)."""
    certificate = ui.seeded.certificates["ledger.example.com"]
    sign_in(page, ui, Role.OPERATOR)
    page.goto(ui.url + "/syncs")
    page.fill("#sync_name", "hook-unanswered")
    page.check("input[name=follows][value=certificate]")
    page.fill("#follow-certificate", certificate)
    page.select_option("#destination_type", "webhook")
    page.fill("#webhook-url", "https://192.0.2.1/hooks")
    page.fill("#webhook-timeout", "1")
    page.fill("#webhook-hmacKey", "ui-hmac-key-0123456789")
    page.click("#add-sync")
    page.wait_for_url("**/ui/syncs")
    row = page.locator("#sync-list tbody tr", has_text="hook-unanswered")
    expect(row.locator(".badge")).to_have_text("failed")
    expect(row.locator(".next-push")).to_have_count(0)  # pushed on demand: not retried

    page.goto(f"{ui.url}/certificates/{certificate}")
    # Wait for the form's own navigation: a goto while it is still under way aborts one of the two
    # (net::ERR_ABORTED), which wait_for_load_state on the already loaded page did not prevent.
    with page.expect_navigation():
        page.locator("#renew-now").evaluate("button => button.form.requestSubmit()")
    page.goto(ui.url + "/syncs")
    for _ in range(100):  # until the push worker has tried the renewal's push
        if row.locator(".next-push").count():
            break
        page.wait_for_timeout(100)
        page.reload()
    expect(row.locator(".next-push")).to_contain_text("next push")
    expect(row.locator(".badge")).to_have_text("failed")
    row.get_by_role("button", name="Remove").click()
    expect(page.locator("#sync-list")).not_to_contain_text("hook-unanswered")
