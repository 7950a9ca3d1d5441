"""The pages that manage the server, in a real browser against a real server: certificate profiles and
policies (create, edit with refusals next to their field, delete refused with 409 while in use), EAB
keys and API tokens (the secret shown once, with a copy button, on a no-store page and never in a URL),
ACME accounts (a real ACME client's account with its order and certificate; deactivating it locks the
client out), and what a viewer and an operator are shown of them."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from acme_server.config import load_settings
from acme_server.services.access.tokens import Role
from acme_server.services.acme import eab
from acme_server.services.config import policies, profiles
from acme_server.services.runtime import open_runtime
from ca_core.jose import b64encode
from ca_core.keys import PrivateKey
from tests.acme.client import Client, csr_der
from tests.acme.conftest import wait_status
from tests.acme.test_eab import binding
from tests.test_serve import trust
from tests.ui.conftest import UI, screenshot, sign_in

T = TypeVar("T")
ACME_PROFILE = "acme-internal"
ACME_NAME = "api.svc.example.internal"


@dataclass(frozen=True)
class AcmeAccount:
    id: str
    eab_kid: str  # the EAB key that bound it
    url: str  # its kid
    key: PrivateKey


async def _acme_account(ui: UI) -> AcmeAccount:
    """A real ACME account, bound by an EAB key, with one valid order and its certificate: a profile
    pre-authorizes its names for EAB-bound accounts, so no challenge is needed."""
    flags = {"data_dir": str(ui.data_dir), "listen": f"127.0.0.1:{ui.server.port}"}
    rt = await open_runtime(load_settings(flags, {}))
    try:
        await profiles.create_profile(
            rt, ACME_PROFILE, {"caId": "dev-intermediate", "preAuthorized": ["*.svc.example.internal"]}
        )
        kid, hmac_key = await eab.create_eab_key(rt, ACME_PROFILE, None)
    finally:
        await rt.storage.close()
    async with httpx.AsyncClient(verify=trust(ui.data_dir)) as http:
        client = await Client(http, ui.server.url + "/acme/directory").load()
        created = await client.register(externalAccountBinding=binding(client, kid, hmac_key))
        assert created.status_code == 201, created.text
        order = await client.new_order(ACME_NAME, profile=ACME_PROFILE)
        assert order.json()["status"] == "ready", order.text
        finalized = await client.post(order.json()["finalize"], {"csr": b64encode(csr_der(ACME_NAME))})
        assert finalized.status_code == 200, finalized.text
        done = await wait_status(client, order.headers["Location"], {"valid", "invalid"})
        assert done["status"] == "valid", done
        assert client.kid is not None
        return AcmeAccount(client.kid.rsplit("/", 1)[1], kid, client.kid, client.key)


async def _post_as_account(ui: UI, account: AcmeAccount) -> httpx.Response:
    """A POST-as-GET of the account by its own ACME client (key and kid)."""
    async with httpx.AsyncClient(verify=trust(ui.data_dir)) as http:
        client = await Client(
            http, ui.server.url + "/acme/directory", key=account.key, kid=account.url
        ).load()
        return await client.post(account.url, {})


def in_thread(work: Coroutine[Any, Any, T]) -> T:
    with ThreadPoolExecutor(1) as thread:  # Playwright's sync API keeps an event loop in this one
        return thread.submit(asyncio.run, work).result()


@pytest.fixture(scope="module")
def acme_account(ui: UI) -> AcmeAccount:
    return in_thread(_acme_account(ui))


def open_nav(page: Page, entry: str) -> None:
    page.click(f"header nav >> text={entry}")
    page.wait_for_load_state()


# --- profiles and policies -------------------------------------------------------------------------


def test_a_profile_is_created_edited_and_deleted_from_its_form(page: Page, ui: UI) -> None:
    sign_in(page, ui, Role.ADMIN)
    open_nav(page, "Profiles")
    expect(page.locator("#profiles").get_by_role("link", name="default", exact=True)).to_have_count(1)
    screenshot(page, "profiles")
    page.click("#new-profile")
    page.fill("#name", "web")
    page.select_option("#issuer", label="dev-intermediate")
    page.select_option("#policy", label="internal")
    page.fill("#default_ttl", "30d")
    page.fill("#max_ttl", "90d")
    page.locator("#setting-extended_key_usages input[value=client_auth]").uncheck()
    page.click("#save")
    page.wait_for_url("**/ui/profiles/web")
    expect(page.locator("h1")).to_have_text("web")
    expect(page.locator("#default_ttl")).to_have_value("30d")
    expect(page.locator("#policy option:checked")).to_have_text("internal")
    expect(page.locator("#setting-extended_key_usages input[value=client_auth]")).not_to_be_checked()
    expect(page.locator("#setting-extended_key_usages input[value=server_auth]")).to_be_checked()
    screenshot(page, "profile")
    # a refusal is shown next to its field, with what was typed kept
    page.fill("#max_ttl", "forever")
    page.click("#save")
    expect(page.locator("#max_ttl-error")).to_contain_text("forever")
    expect(page.locator("#max_ttl")).to_have_value("forever")
    page.fill("#max_ttl", "60d")
    page.click("#save")
    expect(page.locator("#saved")).to_be_visible()
    expect(page.locator("#max_ttl")).to_have_value("60d")
    page.click("#delete-menu summary")
    page.click("#delete-submit")
    page.wait_for_url("**/ui/profiles")
    expect(page.locator("#profiles").get_by_role("link", name="web", exact=True)).to_have_count(0)


def test_a_profile_in_use_is_not_deleted(page: Page, ui: UI) -> None:
    sign_in(page, ui, Role.ADMIN)
    page.goto(ui.url + "/profiles/default")
    page.click("#delete-menu summary")
    with page.expect_response(re.compile(r".*/delete$")) as answer:
        page.click("#delete-submit")
    assert answer.value.status == 409
    expect(page.locator("#delete-error")).to_contain_text("in use by")
    page.goto(ui.url + "/profiles")
    expect(page.locator("#profiles").get_by_role("link", name="default", exact=True)).to_have_count(1)


def test_a_policy_is_created_with_name_patterns_and_one_in_use_is_not_deleted(page: Page, ui: UI) -> None:
    sign_in(page, ui, Role.ADMIN)
    open_nav(page, "Policies")
    screenshot(page, "policies")
    page.click("#new-policy")
    page.fill("#name", "partners")
    page.fill("#dns_allowed", "*.partners.example\n**.extranet.example")
    page.fill("#ip_allowed", "not-a-network")
    page.click("#save")
    expect(page.locator("#ip_allowed-error")).to_contain_text("not-a-network")
    page.fill("#ip_allowed", "10.0.0.0/8")
    page.locator("#setting-required_subject input[value=O]").check()
    page.click("#save")
    page.wait_for_url("**/ui/policies/partners")
    expect(page.locator("#dns_allowed")).to_have_value("*.partners.example\n**.extranet.example")
    expect(page.locator("#setting-required_subject input[value=O]")).to_be_checked()
    screenshot(page, "policy")
    page.goto(ui.url + "/policies/internal")  # the seeded profile `internal` uses it
    page.click("#delete-menu summary")
    page.click("#delete-submit")
    expect(page.locator("#delete-error")).to_contain_text("internal")
    page.goto(ui.url + "/policies/partners")
    page.click("#delete-menu summary")
    page.click("#delete-submit")
    page.wait_for_url("**/ui/policies")
    expect(page.locator("#policies")).not_to_contain_text("partners")


async def _stored(ui: UI, kind: str, name: str) -> dict[str, Any]:
    """The document the services hold for profile or policy `name` (what the API returns)."""
    flags = {"data_dir": str(ui.data_dir), "listen": f"127.0.0.1:{ui.server.port}"}
    rt = await open_runtime(load_settings(flags, {}))
    try:
        if kind == "profile":
            return (await profiles.get_profile(rt, name)).profile.to_document()
        return (await policies.get_policy(rt, name)).policy.to_document()
    finally:
        await rt.storage.close()


def test_a_profile_form_sets_basic_constraints_and_the_renewal_window(page: Page, ui: UI) -> None:
    sign_in(page, ui, Role.ADMIN)
    page.goto(ui.url + "/profiles/new")
    page.fill("#name", "sub-ca")
    page.select_option("#issuer", label="dev-intermediate")
    page.fill("#path_length", "0")  # without CA:TRUE: refused next to the field, what was typed kept
    page.fill("#renewal_window_start", "50")
    page.fill("#renewal_window_end", "80")
    with page.expect_response(re.compile(r".*/profiles$")) as answer:
        page.click("#save")
    assert answer.value.status == 400
    expect(page.locator("#path_length-error")).to_contain_text("needs basicConstraints.ca")
    expect(page.locator("#path_length")).to_have_value("0")
    page.check("#basic_ca")
    page.click("#save")
    page.wait_for_url("**/ui/profiles/sub-ca")
    expect(page.locator("#basic_ca")).to_be_checked()
    expect(page.locator("#path_length")).to_have_value("0")
    stored = in_thread(_stored(ui, "profile", "sub-ca"))
    assert stored["basicConstraints"] == {"ca": True, "pathLength": 0}
    assert stored["renewalWindow"] == {"start": 50, "end": 80}
    # edit: a window that ends before it starts, then a negative path length, each refused in place
    page.fill("#renewal_window_start", "90")
    page.click("#save")
    expect(page.locator("#renewal_window_start-error")).to_contain_text("start must be earlier than end")
    page.fill("#renewal_window_start", "60")
    page.fill("#path_length", "-1")
    page.click("#save")
    expect(page.locator("#path_length-error")).to_contain_text("must not be negative")
    page.fill("#path_length", "")  # empty: no limit
    page.uncheck("#basic_ca")
    page.click("#save")
    expect(page.locator("#saved")).to_be_visible()
    stored = in_thread(_stored(ui, "profile", "sub-ca"))
    assert stored["basicConstraints"] == {"ca": False, "pathLength": None}
    assert stored["renewalWindow"] == {"start": 60, "end": 80}


def test_a_policy_form_sets_subject_patterns_and_an_emptied_one_allows_any(page: Page, ui: UI) -> None:
    sign_in(page, ui, Role.ADMIN)
    page.goto(ui.url + "/policies/new")
    page.fill("#name", "subjects")
    page.fill("#subject_O", "Example\nExample *")
    page.fill("#subject_C", "DE")
    page.fill("#commonName_allowed", "*.example.com")
    page.fill("#dns_denied", "-bad-.example.com")
    page.click("#save")
    expect(page.locator("#dns_denied-error")).to_contain_text("-bad-.example.com")
    expect(page.locator("#subject_O")).to_have_value("Example\nExample *")  # kept while refused
    page.fill("#dns_denied", "")
    page.click("#save")
    page.wait_for_url("**/ui/policies/subjects")
    expect(page.locator("#subject_C")).to_have_value("DE")
    stored = in_thread(_stored(ui, "policy", "subjects"))
    assert stored["subject"]["allowed"] == {"O": ["Example", "Example *"], "C": ["DE"]}
    assert stored["commonName"]["allowed"] == ["*.example.com"]
    page.fill("#subject_C", "")  # no longer restricted (an empty list would allow no country at all)
    page.fill("#subject_OU", "Web")
    page.click("#save")
    expect(page.locator("#saved")).to_be_visible()
    stored = in_thread(_stored(ui, "policy", "subjects"))
    assert stored["subject"]["allowed"] == {"O": ["Example", "Example *"], "OU": ["Web"]}


def test_viewers_read_profiles_and_policies_but_change_nothing(page: Page, ui: UI) -> None:
    sign_in(page, ui, Role.VIEWER)
    open_nav(page, "Profiles")
    expect(page.locator("#new-profile")).to_have_count(0)
    page.goto(ui.url + "/profiles/default")
    expect(page.locator("#document-form fieldset")).to_have_attribute("disabled", "")
    expect(page.locator("#document-form fieldset :is(input, select, textarea):enabled")).to_have_count(0)
    expect(page.locator("main button")).to_have_count(0)
    expect(page.locator("#delete-menu")).to_have_count(0)
    assert page.request.get(ui.url + "/profiles/new").status == 403
    # and no EAB or token pages in the navigation, nor behind it
    expect(page.locator("header nav")).not_to_contain_text("EAB keys")
    expect(page.locator("header nav")).not_to_contain_text("API tokens")
    assert page.request.get(ui.url + "/tokens").status == 403
    assert page.request.get(ui.url + "/eab-keys").status == 403


# --- API tokens and EAB keys -----------------------------------------------------------------------


def test_a_token_is_shown_once_with_a_copy_button_and_can_be_revoked(
    page: Page, context: BrowserContext, ui: UI
) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=ui.server.url)
    sign_in(page, ui, Role.ADMIN)
    open_nav(page, "API tokens")
    page.fill("#name", "deploy-bot")
    page.select_option("#role", "operator")
    page.fill("#expires_in", "30d")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("#create-token-submit")
    assert answer.value.status == 201
    assert answer.value.headers["cache-control"] == "no-store"
    secret = page.locator("#token-secret").input_value()
    assert secret.startswith("acmes_")
    assert secret not in page.url
    screenshot(page, "tokens")
    page.locator("#new-secret").get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    row = page.locator("#tokens tbody tr", has_text="deploy-bot")
    expect(row).to_contain_text("operator")
    page.goto(ui.url + "/tokens")  # shown once: not on the next visit
    expect(page.locator("#new-secret")).to_have_count(0)
    assert secret not in page.content()
    # the new token signs in, then is revoked and no longer does
    other = context.browser.new_context(ignore_https_errors=True) if context.browser else None
    assert other is not None
    try:
        second = other.new_page()
        second.goto(ui.url + "/sign-in")
        second.fill("#token", secret)
        second.click("button[type=submit]")
        second.wait_for_url("**/ui/certificates")
        row.locator("summary").click()
        row.get_by_role("button", name="Revoke token").click()
        expect(page.locator("#tokens")).not_to_contain_text("deploy-bot")
        second.goto(ui.url + "/certificates")
        second.wait_for_url("**/ui/sign-in?next=*")  # its session ended with it
    finally:
        other.close()


def test_a_bad_token_form_is_refused_next_to_its_field(page: Page, ui: UI) -> None:
    sign_in(page, ui, Role.ADMIN)
    page.goto(ui.url + "/tokens")
    page.fill("#name", "short-lived")
    page.fill("#expires_in", "soon")
    page.click("#create-token-submit")
    expect(page.locator("#expires_in-error")).to_contain_text("soon")
    expect(page.locator("#new-secret")).to_have_count(0)


def test_an_eab_key_is_shown_once_lists_its_accounts_and_is_disabled_and_deleted(
    page: Page, context: BrowserContext, ui: UI, acme_account: AcmeAccount
) -> None:
    account_id, bound_kid = acme_account.id, acme_account.eab_kid
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=ui.server.url)
    sign_in(page, ui, Role.ADMIN)
    open_nav(page, "EAB keys")
    bound = page.locator(f"#key-{bound_kid}")
    expect(bound.locator(f"a[href$='/accounts/{account_id}']")).to_contain_text("valid")
    expect(bound).to_contain_text("1 of unlimited")
    page.select_option("#profile", ACME_PROFILE)
    page.fill("#max_accounts", "2")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("#create-eab-submit")
    assert answer.value.status == 201 and answer.value.headers["cache-control"] == "no-store"
    kid = page.locator("#eab-kid").input_value()
    hmac_key = page.locator("#eab-hmac").input_value()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", hmac_key) and hmac_key not in page.url
    screenshot(page, "eab-keys")
    page.locator("#new-secret .pem").nth(1).get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == hmac_key
    page.goto(ui.url + "/eab-keys")
    assert hmac_key not in page.content()
    row = page.locator(f"#key-{kid}")
    expect(row).to_contain_text("0 of 2")
    row.get_by_role("button", name="Disable").click()
    expect(page.locator(f"#key-{kid} .badge")).to_have_text("disabled")
    page.locator(f"#key-{kid}").get_by_role("button", name="Enable").click()
    expect(page.locator(f"#key-{kid} .badge")).to_have_text("active")
    # a key that bound an account is not deleted while the account is kept
    page.locator(f"#key-{bound_kid} summary").click()
    with page.expect_response(re.compile(r".*/delete$")) as refused:
        page.locator(f"#key-{bound_kid}").get_by_role("button", name="Delete key").click()
    assert refused.value.status == 409
    expect(page.locator(f"#key-{bound_kid}-error")).to_contain_text("cannot be deleted")
    page.locator(f"#key-{kid} summary").click()
    page.locator(f"#key-{kid}").get_by_role("button", name="Delete key").click()
    expect(page.locator(f"#key-{kid}")).to_have_count(0)
    expect(page.locator(f"#key-{bound_kid}")).to_have_count(1)


# --- ACME accounts ---------------------------------------------------------------------------------


def test_an_account_shows_its_orders_and_certificates_and_is_deactivated(
    page: Page, ui: UI, acme_account: AcmeAccount
) -> None:
    account_id, kid = acme_account.id, acme_account.eab_kid
    assert in_thread(_post_as_account(ui, acme_account)).status_code == 200
    sign_in(page, ui, Role.OPERATOR)
    open_nav(page, "ACME accounts")
    row = page.locator("#accounts tbody tr", has_text=account_id)
    expect(row).to_contain_text(kid)
    screenshot(page, "accounts")
    row.click()
    page.wait_for_url(f"**/ui/accounts/{account_id}")
    expect(page.locator("#orders tbody tr")).to_have_count(1)
    expect(page.locator("#orders")).to_contain_text(ACME_NAME)
    expect(page.locator("#orders .badge")).to_have_text("valid")
    expect(page.locator("#certificates")).to_contain_text(ACME_NAME)
    expect(page.locator("#deactivate")).to_have_count(0)  # an operator may not
    page.click("text=Sign out")
    sign_in(page, ui, Role.ADMIN)
    page.goto(f"{ui.url}/accounts/{account_id}")
    screenshot(page, "account")
    page.click("#deactivate")
    page.locator("#deactivate-dialog input[name=confirm]").check()
    page.click("#deactivate-submit")
    expect(page.locator(".page-head .badge")).to_have_text("deactivated")
    # its ACME client is locked out (RFC 8555 §7.3.6)
    refused = in_thread(_post_as_account(ui, acme_account))
    assert refused.status_code == 401
    assert refused.json()["type"] == "urn:ietf:params:acme:error:unauthorized"
    page.click(f"#certificates a:text('{ACME_NAME}')")
    expect(page.locator("h1")).to_have_text(ACME_NAME)
