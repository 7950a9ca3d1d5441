"""One end-to-end UI flow on both engines: a real `acme-server serve` on SQLite and on PostgreSQL (a
database of its own, dropped after), driven by Chromium — sign in, create a profile from its form,
issue a certificate of it from the Request dialog, renew it now — with the stored results read back
through the services, and the UI's changes in the audit log under the signed-in token."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from acme_server.config import load_settings
from acme_server.services.access import tokens
from acme_server.services.access.tokens import Role
from acme_server.services.config import profiles
from acme_server.services.inventory import certificates
from acme_server.services.platform import audit
from acme_server.services.runtime import Runtime, open_runtime
from tests.conftest import _admin, _postgres_url, require_postgres
from tests.test_serve import Server
from tests.ui.conftest import UI, Seeded, sign_in
from tests.ui.test_ui_admin_pages import in_thread
from tests.ui.test_ui_pages import choose


@dataclass
class EngineUI(UI):
    database: str | None  # None: the SQLite file in the data directory

    async def runtime(self) -> Runtime:
        flags = {"data_dir": str(self.data_dir), "database": self.database}
        return await open_runtime(load_settings({**flags, "listen": f"127.0.0.1:{self.server.port}"}, {}))


async def _admin_token(ui: EngineUI) -> str:
    rt = await ui.runtime()
    try:
        secret, _ = await tokens.create_token(rt, name="e2e-admin", role=Role.ADMIN)
    finally:
        await rt.storage.close()
    return secret


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine_ui(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EngineUI]:
    database: str | None = None
    name = ""
    if request.param == "postgresql":
        in_thread(require_postgres())  # skips, or fails under ACME_REQUIRE_POSTGRES=1
        name = f"acme_ui_{secrets.token_hex(6)}"
        in_thread(_admin(f'CREATE DATABASE "{name}"'))
        database = _postgres_url(name)
    environment = {"ACME_SERVER_DATABASE": database} if database else {}
    server: Server | None = None
    try:
        server = Server(tmp_path / "data", environment=environment)
        ui = EngineUI(server, Seeded(), database)
        ui.seeded.tokens[Role.ADMIN] = in_thread(_admin_token(ui))
        yield ui
    finally:
        if server is not None:
            server.stop()
        if database is not None:
            in_thread(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass(frozen=True)
class Stored:
    profile: dict[str, object]
    renewed_from: str | None
    ui_actions: list[str]


async def _stored(ui: EngineUI, certificate_id: str) -> Stored:
    rt = await ui.runtime()
    try:
        profile = (await profiles.get_profile(rt, "e2e")).profile.to_document()
        successor = await certificates.get_certificate(rt, certificate_id)
        events, _ = await audit.list_events(rt, actor="e2e-admin", limit=20)
    finally:
        await rt.storage.close()
    return Stored(profile, successor.renewed_from_id, [e.action for e in events if e.actor.kind == "ui"])


def test_sign_in_create_a_profile_issue_and_renew_on_each_engine(page: Page, engine_ui: EngineUI) -> None:
    ui = engine_ui
    sign_in(page, ui, Role.ADMIN)
    page.goto(ui.url + "/profiles/new")
    page.fill("#name", "e2e")
    page.select_option("#issuer", label="dev-intermediate")
    page.fill("#default_ttl", "30d")
    page.fill("#renewal_window_start", "40")
    page.fill("#renewal_window_end", "90")
    page.click("#save")
    page.wait_for_url("**/ui/profiles/e2e")

    page.goto(ui.url + "/requests")
    page.click("#new-request")
    dialog = page.locator("#request-dialog")
    dialog.locator("#profile").select_option("e2e")
    dialog.locator("#common_name").fill("e2e.example.com")
    dialog.locator("#dns").fill("e2e.example.com")
    dialog.locator("#request-submit").click()
    page.wait_for_url(re.compile(r".*/ui/certificates/.+"))
    expect(page.locator("h1")).to_have_text("e2e.example.com")
    first_id = page.url.rsplit("/", 1)[1]

    choose(page, "Renew now")
    page.wait_for_url(re.compile(r".*/ui/certificates/(?!" + first_id + ").+"))
    expect(page.locator("#renewed-from")).to_have_text(first_id)
    successor_id = page.url.rsplit("/", 1)[1]

    stored = in_thread(_stored(ui, successor_id))
    assert stored.profile["renewalWindow"] == {"start": 40, "end": 90}
    assert stored.profile["defaultTtl"] == "30d"
    assert stored.renewed_from == first_id
    # what the UI changed is in the audit log under the signed-in token, newest first
    assert stored.ui_actions == ["certificate.renew_now", "profile.create"]
