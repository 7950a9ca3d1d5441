"""The CA page's Rotation panel in a real browser against a real server: an admin starts a rotation of
the dev intermediate onto another CA, sees its progress (the counts the service computes), is refused
finishing while certificates depend on the old CA, and forces it; a viewer sees the panel and no form."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from playwright.sync_api import BrowserContext, Page, expect

from acme_server.config import load_settings
from acme_server.services.access.tokens import Role
from acme_server.services.config import ca_creation, cas
from acme_server.services.platform import bootstrap
from acme_server.services.renewal import rotation_progress
from acme_server.services.renewal.rotation_progress import RotationProgress
from acme_server.services.runtime import open_runtime
from ca_core.request import Subject
from tests.ui.conftest import UI, screenshot, sign_in

T = TypeVar("T")


def in_thread(work: Coroutine[Any, Any, T]) -> T:
    with ThreadPoolExecutor(1) as thread:  # Playwright's sync API keeps an event loop in this one
        return thread.submit(asyncio.run, work).result()


async def _with_runtime(ui: UI, step: str) -> tuple[str, RotationProgress | None]:
    flags = {"data_dir": str(ui.data_dir), "listen": f"127.0.0.1:{ui.server.port}"}
    rt = await open_runtime(load_settings(flags, {}))
    try:
        if step == "create":
            await ca_creation.create_intermediate_ca(
                rt,
                parent=bootstrap.ROOT_NAME,
                name="dev-intermediate-2",
                subject=Subject(common_name="Dev 2"),
            )
            old = await cas.get_ca(rt, bootstrap.INTERMEDIATE_NAME)
            return old.id, None
        return "", await rotation_progress.rotation_status(rt, bootstrap.INTERMEDIATE_NAME)
    finally:
        await rt.storage.close()


def test_an_admin_rotates_a_ca_and_a_viewer_follows_its_progress(
    ui: UI, page: Page, context: BrowserContext
) -> None:
    old_id, _ = in_thread(_with_runtime(ui, "create"))
    sign_in(page, ui, Role.ADMIN)
    page.goto(f"{ui.url}/cas/{old_id}")
    expect(page.locator("#rotation-none")).to_have_text("This CA has not been rotated.")
    page.select_option("#rotation-to", label="dev-intermediate-2")
    page.fill("#rotation-spread", "0")
    page.fill("#rotation-grace", "0")
    page.click("#start-rotation button[type=submit]")
    page.wait_for_url(f"**/ui/cas/{old_id}")
    _, progress = in_thread(_with_runtime(ui, "status"))
    assert progress is not None and progress.on_old > 0
    # Spread and grace 0: every certificate's moment has passed, and none was renewed (no client came).
    expect(page.locator("#rotation .badge")).to_have_text("renewing")
    expect(page.locator("#rotation-new-ca")).to_have_text("dev-intermediate-2")
    expect(page.locator("#rotation-on-old")).to_have_text(str(progress.on_old))
    expect(page.locator("#rotation-renewed")).to_have_text("0")
    expect(page.locator("#rotation-spread-shown")).to_have_text("0d")
    expect(page.locator("#rotation-not-renewing")).to_contain_text(str(progress.not_renewing))
    assert progress.not_renewing == progress.on_old
    screenshot(page, "ca-rotation")
    page.click("#finish-rotation button[type=submit]")
    expect(page.locator("h1")).to_have_text("Could not do that")
    expect(page.locator("main")).to_contain_text(
        f"{progress.on_old} active certificate(s) still depend on CA 'dev-intermediate'"
    )
    page.goto(f"{ui.url}/cas/{old_id}")
    page.check("#finish-rotation input[name=force]")
    page.click("#finish-rotation button[type=submit]")
    page.wait_for_url(f"**/ui/cas/{old_id}")
    expect(page.locator("#rotation .badge")).to_have_text("completed")
    expect(page.locator(".page-head .badge")).to_have_text("disabled")
    # A viewer: the panel, no forms.
    assert context.browser is not None
    viewer = context.browser.new_context(ignore_https_errors=True)  # a second browser profile
    other = viewer.new_page()
    sign_in(other, ui, Role.VIEWER)
    other.goto(f"{ui.url}/cas/{old_id}")
    expect(other.locator("#rotation-on-old")).to_have_text(str(progress.on_old))
    expect(other.locator("#start-rotation, #finish-rotation, #cancel-rotation")).to_have_count(0)
    viewer.close()
