"""An unexpected error under /ui is an HTML page (status 500, the UI's security headers, the request id
that leads to the logged traceback), never a JSON problem and never the error's own text. The error is
real: the server's database loses a table it reads."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx

from tests.test_serve import Server, trust

CLI = (sys.executable, "-m", "acme_server.cli")


def test_an_unexpected_error_is_an_html_page_naming_the_request_id(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = Server(data_dir)
    try:
        created = subprocess.run(
            [
                *CLI,
                "token",
                "create",
                "--data-dir",
                str(data_dir),
                "--role",
                "viewer",
                "--name",
                "error-page",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        token = re.search(r"acmes_\S+", created.stdout)
        assert token is not None, created.stdout
        with httpx.Client(base_url=server.url, verify=trust(data_dir)) as http:
            csrf = re.search(r'name="csrf" value="([^"]+)"', http.get("/ui/sign-in").text)
            assert csrf is not None
            signed_in = http.post("/ui/sign-in", data={"csrf": csrf.group(1), "token": token.group(0)})
            assert signed_in.status_code == 303
            with sqlite3.connect(data_dir / "acme-server.db") as db:  # an outage the code cannot expect
                db.execute("ALTER TABLE certificate_metadata RENAME TO certificate_metadata_gone")
                db.execute("ALTER TABLE certificates RENAME TO certificates_gone")
            broken = http.get("/ui/certificates")
    finally:
        server.stop()
    assert broken.status_code == 500
    assert broken.headers["content-type"].startswith("text/html")
    assert broken.headers["content-security-policy"].startswith("default-src 'self'")
    assert broken.headers["cache-control"] == "no-store"
    assert "<h1>Something went wrong</h1>" in broken.text
    request_id = broken.headers["x-request-id"]
    assert f"request id {request_id}." in broken.text
    for leak in ("certificates_gone", "no such table", "Traceback", "sqlite", "OperationalError"):
        assert leak not in broken.text
    assert server.process.stdout is not None
    log = server.process.stdout.read()
    assert "Traceback" in log and "no such table: certificates" in log
