"""End-to-end UI fixtures: a real `acme-server serve` (HTTPS on loopback, fresh SQLite database, dev CA
bootstrapped) seeded with certificates and API tokens through the services, and Debian's Chromium driven
by Playwright (never a downloaded browser). Screenshots land in tests/ui/artifacts/."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from acme_server.config import load_settings
from acme_server.services import issuance
from acme_server.services.access import tokens
from acme_server.services.access.tokens import Role
from acme_server.services.config import policies, profiles
from acme_server.services.issuance import ManagedRequest
from acme_server.services.runtime import open_runtime
from ca_core.request import Subject, SubjectAltNames
from tests.test_serve import Server
from tests.tools import require_tool

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"


@dataclass
class Seeded:
    tokens: dict[Role, str] = field(default_factory=dict)
    certificates: dict[str, str] = field(default_factory=dict)  # common name -> id


# (common name, metadata): two teams, so a metadata filter has something to leave out
CERTIFICATES = [
    ("payments.example.com", {"team": "payments", "env": "prod"}),
    ("ledger.example.com", {"team": "payments", "env": "staging"}),
    ("search.example.com", {"team": "search", "env": "prod"}),
    ("revoke-me.example.com", {"team": "ops"}),
    ("delete-me.example.com", {"team": "ops"}),
    ("renew-me.example.com", {"team": "ops", "tier": "gold"}),
]


async def _seed(server: Server) -> Seeded:
    """Through the services, with the server's own settings (so CRL URLs point at it)."""
    flags = {
        "data_dir": str(server.data_dir),
        "listen": f"127.0.0.1:{server.port}",
        "status_listen": f"127.0.0.1:{server.status_port}",
    }
    rt = await open_runtime(load_settings(flags, {}))
    seeded = Seeded()
    try:
        # a profile whose policy allows only *.svc.example.internal, for the policy-violation case
        await policies.create_policy(
            rt, "internal", {"altNames": {"dns": {"allowed": ["*.svc.example.internal"]}}}
        )
        await profiles.create_profile(
            rt, "internal", {"issuerType": "ca", "caId": "dev-intermediate", "policyId": "internal"}
        )
        for role in Role:
            seeded.tokens[role], _ = await tokens.create_token(rt, name=f"ui-{role}", role=role)
        for common_name, metadata in CERTIFICATES:
            cert = await issuance.issue_certificate(
                rt,
                profile="default",
                managed=ManagedRequest(
                    Subject(common_name=common_name, organization="Example", country="DE"),
                    SubjectAltNames(dns=(common_name,)),
                ),
                metadata=metadata,
                friendly_name=common_name.split(".")[0],
            )
            seeded.certificates[common_name] = cert.id
    finally:
        await rt.storage.close()
    return seeded


@dataclass
class UI:
    server: Server
    seeded: Seeded

    @property
    def url(self) -> str:
        return self.server.url + "/ui"

    @property
    def data_dir(self) -> Path:
        return self.server.data_dir


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    data_dir = tmp_path_factory.mktemp("ui") / "data"
    # directory syncs made from the UI write below the temporary directory (operators may make them)
    server = Server(data_dir, environment={"ACME_SERVER_SYNC_DIRECTORIES": tempfile.gettempdir()})
    try:
        # its own thread: Playwright's sync API keeps an event loop running in this one
        with ThreadPoolExecutor(1) as thread:
            seeded = thread.submit(asyncio.run, _seed(server)).result()
        yield UI(server, seeded)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        require_tool("chromium")  # skips, or fails under ACME_REQUIRE_TOOLS=1
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile per test (no cookies); the server's dev certificate is self-issued."""
    fresh = browser.new_context(
        ignore_https_errors=True,
        accept_downloads=True,
        viewport={"width": 1280, "height": 900},
        locale="en-US",
        timezone_id="Asia/Kolkata",  # not UTC, so local times differ from the printed ones
    )
    yield fresh
    fresh.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    return opened


def sign_in(page: Page, ui: UI, role: Role = Role.OPERATOR) -> None:
    page.goto(ui.url + "/")
    page.fill("#token", ui.seeded.tokens[role])
    page.click("button[type=submit]")
    page.wait_for_url("**/ui/certificates")


# UI_SCREENSHOTS=docs/img: the pages' screenshots are also written there as ui-<name>.png, for the
# docs (`UI_SCREENSHOTS=docs/img .venv/bin/python -m pytest tests/ui -q`); off in CI.
DOCS_SCREENSHOTS = os.environ.get("UI_SCREENSHOTS")


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if DOCS_SCREENSHOTS:
        shutil.copyfile(path, Path(DOCS_SCREENSHOTS) / f"ui-{name}.png")
    return path


@pytest.fixture(scope="session", autouse=True)
def _clean_artifacts() -> None:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
