"""A secret the UI creates — an API token, an EAB HMAC key — is in the body of the response to the
form's POST and nowhere else: not in a URL (no redirect), not cached (no-store), not on the next
visit of the page, and not in the server's log."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.test_serve import Server, trust

CLI = (sys.executable, "-m", "acme_server.cli")


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def _shown(html: str, element: str) -> str:
    found = re.search(rf'<textarea id="{element}"[^>]*>([^<]+)</textarea>', html)
    assert found is not None, element
    return found.group(1).strip()


def test_new_tokens_and_eab_keys_are_shown_once_and_never_logged(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # debug: every request's log line and whatever else the server would say about them
    server = Server(data_dir, environment={"ACME_SERVER_LOG_LEVEL": "debug"})
    try:
        created = subprocess.run(
            [*CLI, "token", "create", "--data-dir", str(data_dir), "--role", "admin", "--name", "root"],
            capture_output=True,
            text=True,
            check=True,
        )
        admin = re.search(r"acmes_\S+", created.stdout)
        assert admin is not None
        with httpx.Client(base_url=server.url, verify=trust(data_dir)) as http:
            csrf = _csrf(http.get("/ui/sign-in").text)
            http.post("/ui/sign-in", data={"csrf": csrf, "token": admin.group(0)})
            csrf = _csrf(http.get("/ui/tokens").text)
            token_page = http.post("/ui/tokens", data={"csrf": csrf, "name": "ci", "role": "viewer"})
            eab_page = http.post("/ui/eab-keys", data={"csrf": csrf, "max_accounts": "unlimited"})
            later = [http.get("/ui/tokens").text, http.get("/ui/eab-keys").text]
    finally:
        server.stop()
    assert server.process.stdout is not None
    log = server.process.stdout.read()
    token = _shown(token_page.text, "token-secret")
    hmac_key = _shown(eab_page.text, "eab-hmac")
    assert token.startswith("acmes_") and re.fullmatch(r"[A-Za-z0-9_-]{43}", hmac_key)
    for response in (token_page, eab_page):
        assert response.status_code == 201 and "location" not in response.headers
        assert response.headers["cache-control"] == "no-store"
    for secret in (token, hmac_key):
        assert all(secret not in page for page in later)
        assert secret not in log
    assert log.count("/ui/tokens") >= 2 and log.count("/ui/eab-keys") >= 2  # logged, without the secrets
