"""docs/operations.md over real HTTP against `acme-server serve`: /metrics for API tokens only, scraped
by Debian's real Prometheus (two workers: multiprocess mode); request ids in headers, problem
documents and JSON log lines; SIGTERM drains a held request within --shutdown-grace."""

from __future__ import annotations

import json
import re
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from acme_server.cli import main
from acme_server.config import load_settings
from acme_server.errors import ConfigError
from acme_server.observability import logs
from tests.test_serve import Server, free_port, trust
from tests.tools import require_tool, stop_process


def viewer_token(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert (
        main(["token", "create", "--role", "viewer", "--name", "scraper", "--data-dir", str(data_dir)]) == 0
    )
    found = re.search(r"^token: (\S+)$", capsys.readouterr().out, re.MULTILINE)
    assert found is not None
    return found[1]


def poll(check: Any, *, what: str, deadline: float = 60) -> Any:
    """check() until it returns something truthy, or fail naming `what`."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "data", "--log-level", "info", "--log-format", "json")
    yield running
    running.stop()


def test_metrics_are_refused_without_an_api_token_and_absent_from_the_status_listener(
    server: Server,
) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = httpx.get(server.url + "/metrics", headers=headers, verify=trust(server.data_dir))
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == 'Bearer realm="acme-server"'
        assert response.json()["type"] == "urn:acme-server:problem:unauthorized"
        assert re.fullmatch(r"[0-9a-f]{16}", response.headers["x-request-id"])
    assert httpx.get(server.status_url + "/metrics").status_code == 404


def test_metrics_exposition_for_a_viewer_token(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    token = viewer_token(server.data_dir, capsys)
    trusted = trust(server.data_dir)
    httpx.get(server.url + "/acme/directory", verify=trusted)
    response = httpx.get(
        server.url + "/metrics", headers={"Authorization": f"Bearer {token}"}, verify=trusted
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    assert samples[("acme_server_http_requests_total", (("route", "directory"), ("status", "200")))] == 1
    # The raw path never becomes a label: only route names (and "unmatched").
    assert not any("/" in dict(labels).get("route", "") for _, labels in samples)
    pools = {dict(labels)["pool"] for name, labels in samples if name == "acme_server_db_pool_connections"}
    assert pools == {"write", "read"}


def test_request_id_is_echoed_when_well_formed_and_logged_as_json(server: Server) -> None:
    trusted = trust(server.data_dir)
    given = httpx.get(server.url + "/healthz", headers={"X-Request-ID": "trace-42.a:b"}, verify=trusted)
    assert given.headers["x-request-id"] == "trace-42.a:b"
    refused = httpx.get(
        server.url + "/healthz", headers={"X-Request-ID": "semi;colon" + "x" * 130}, verify=trusted
    )
    assert re.fullmatch(r"[0-9a-f]{16}", refused.headers["x-request-id"])
    missing = httpx.post(server.url + "/acme/new-account", content=b"{}", verify=trusted)
    assert missing.json()["type"] == "urn:ietf:params:acme:error:malformed"
    request_id = missing.headers["x-request-id"]
    server.stop()
    assert server.process.stdout is not None
    lines = [json.loads(line) for line in server.process.stdout if line.startswith("{")]
    access = {line["request_id"]: line for line in lines if line["logger"] == "acme_server.access"}
    assert access["trace-42.a:b"]["route"] == "health" and access["trace-42.a:b"]["status"] == 200
    assert access[request_id]["route"] == "new_account"
    assert access[request_id]["status"] == missing.status_code == 415
    assert access[request_id]["level"] == "info"


def test_server_errors_carry_the_request_id_as_a_problem_member() -> None:
    """RFC 7807 §3.2 extension member on 5xx problems (client errors keep their exact documents)."""
    internal = {"type": "urn:ietf:params:acme:error:serverInternal", "detail": "x", "status": 500}
    client = {"type": "urn:ietf:params:acme:error:malformed", "detail": "x", "status": 400}
    token = logs.REQUEST_ID.set("abc-123")
    try:
        assert logs.with_request_id(internal) == {**internal, "requestId": "abc-123"}
        assert logs.with_request_id(client) == client
    finally:
        logs.REQUEST_ID.reset(token)
    assert "requestId" not in internal  # the shared constant is never changed


def test_readyz_reports_database_migrations_and_ca_keys(server: Server) -> None:
    response = httpx.get(server.url + "/readyz", verify=trust(server.data_dir))
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "ca_keys": "ok"},
    }
    assert httpx.get(server.status_url + "/readyz").status_code == 200


def test_prometheus_scrapes_two_workers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The real Prometheus scrapes /metrics with a viewer token over HTTPS; the request counts of both
    worker processes add up in what it stored (prometheus_client's multiprocess mode)."""
    prometheus = require_tool("prometheus")
    running = Server(tmp_path / "data", "--workers", "2")
    try:
        token_file = tmp_path / "token"
        token_file.write_text(viewer_token(running.data_dir, capsys))
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: acme-server\n"
            "    scheme: https\n"
            f"    tls_config: {{ca_file: {running.data_dir / 'root.pem'}}}\n"
            f"    authorization: {{credentials_file: {token_file}}}\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{running.port}']}}]\n"
        )
        port = free_port()
        process = subprocess.Popen(
            [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            for _ in range(20):
                httpx.get(running.url + "/healthz", verify=trust(running.data_dir))

            def query(expression: str) -> list[dict[str, Any]]:
                try:
                    answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": expression})
                except httpx.TransportError:
                    return []
                return answer.json()["data"]["result"] if answer.status_code == 200 else []

            (up,) = poll(lambda: query('up{job="acme-server"}'), what="Prometheus's first scrape")
            poll(lambda: query('up{job="acme-server"} == 1'), what=f"a successful scrape (up: {up})")
            total = 'sum(acme_server_http_requests_total{route="health",status="200"}) >= 20'
            (counted,) = poll(lambda: query(total), what="both workers' request counts")
            assert float(counted["value"][1]) >= 20
            (pools,) = poll(
                lambda: query('acme_server_db_pool_connections{pool="write",state="size"}'),
                what="the pool figures",
            )
            assert float(pools["value"][1]) >= 2  # one write pool per worker, summed
        finally:
            stop_process(process)
    finally:
        running.stop()


def _hold_request(server: Server) -> ssl.SSLSocket:
    """A POST whose body is only half sent: in flight until the rest arrives."""
    raw = socket.create_connection(("127.0.0.1", server.port))
    held = trust(server.data_dir).wrap_socket(raw, server_hostname="127.0.0.1")
    held.sendall(
        b"POST /acme/new-account HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/jose+json\r\nContent-Length: 4\r\n\r\n{}"
    )
    # Another request answered after it: the server's loop has read the held one's head.
    httpx.get(server.url + "/healthz", verify=trust(server.data_dir))
    return held


def test_sigterm_lets_a_held_request_finish_within_the_grace(tmp_path: Path) -> None:
    running = Server(tmp_path / "data", "--shutdown-grace", "60")
    held = _hold_request(running)
    running.process.send_signal(signal.SIGTERM)
    poll(lambda: _refuses(running.port), what="the listener to close")
    assert running.process.poll() is None  # still draining the held request
    held.sendall(b"  ")
    answer = held.recv(65536)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"application/problem+json" in answer
    # uvicorn re-raises the signal it handled once drained: the exit status says SIGTERM.
    assert running.process.wait(timeout=60) == -signal.SIGTERM
    held.close()


def test_sigterm_stops_waiting_after_the_grace(tmp_path: Path) -> None:
    running = Server(tmp_path / "data", "--shutdown-grace", "1")
    held = _hold_request(running)
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(timeout=60) == -signal.SIGTERM  # the body never came; grace ran out
    held.close()


def _refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"ACME_SERVER_LOG_FORMAT": "xml"}, "log_format: 'xml' is not one of text, json"),
        ({"ACME_SERVER_LOG_LEVEL": "loud"}, "log_level: 'loud' is not one of debug, info, warning, error"),
        ({"ACME_SERVER_SHUTDOWN_GRACE": "-1"}, "shutdown_grace: must be between 0 and 3600"),
    ],
)
def test_bad_log_and_shutdown_settings_are_one_line_errors(environment: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({}, environment)
    assert raised.value.detail == message


def test_log_settings_are_read_case_insensitively() -> None:
    settings = load_settings({"log_level": "INFO"}, {"ACME_SERVER_LOG_FORMAT": "JSON"})
    assert (settings.log_level, settings.log_format, settings.shutdown_grace) == ("info", "json", 30)
