"""Issue 10 part 3: schemathesis, a real OpenAPI fuzzer run as its own process (`st run`), against the
live `/api/v1/openapi.json` of a server on loopback, with an admin's, an operator's and a viewer's
token (each on a database of its own, SQLite and PostgreSQL). Every operation is sent boundary and
negative values (coverage phase) and generated ones (fuzzing phase); half of the path parameters name
resources that exist, so the successes are checked too. Checks: CHECKS below. Bounded and
derandomized: ACME_SCHEMATHESIS_EXAMPLES (default 10) examples per operation, a fixed seed
(docs/security.md "Schemathesis")."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from acme_server.api.routes import ENDPOINTS
from acme_server.config import Limit
from acme_server.destinations import DestinationHost
from acme_server.services.access.tokens import Role
from tests.api.conftest import CM, ApiServer, issue_managed, make_pki

EXAMPLES = int(os.environ.get("ACME_SCHEMATHESIS_EXAMPLES", "10"))
SEED = 103  # issue 10 part 3; any fixed value keeps CI's runs alike (deterministic mode)
# What is checked (named, so a newer schemathesis adding checks changes nothing silently).
CHECKS = (
    "not_a_server_error",  # no 5xx
    "status_code_conformance",  # every status listed for the operation
    "content_type_conformance",  # a content type listed for that status
    "response_schema_conformance",  # the body valid against its schema, formats included
    "response_headers_conformance",  # the headers listed (WWW-Authenticate, Retry-After) present
    "ignored_auth",  # an operation that needs a token refuses a request without one
    "unsupported_method",  # a method the path lacks is 405 ...
    "allow_header_conformance",  # ... with an Allow header listing the ones it has
    "negative_data_rejection",  # what breaks the schema is refused with a 4xx
)
ST = Path(sys.executable).with_name("st")  # the schemathesis CLI of this environment


@dataclass
class World:
    """What the path parameters name, {parameter: [ids and names]}: `live` for every operation but the
    deletes, `doomed` for the deletes, so that a delete never takes what the other operations read."""

    live: dict[str, list[str]]
    doomed: dict[str, list[str]]


async def _world(api: ApiServer, files: Path) -> World:
    pki = await make_pki(api)
    certificates = [
        (await issue_managed(api, f"{name}.svc.example.internal"))["certificateId"]
        for name in ("api", "other", "doomed")
    ]
    # In no dictionary: it stays for getCertificateRequest (a deleted certificate's request goes with
    # it) and, active, for getLatestActiveBundle, whatever the fuzzer does to the others.
    kept = await issue_managed(api, "kept.svc.example.internal")
    await api.ok("POST", f"{CM}/cas", json={"type": "external", "name": "offline-issuing"}, status=201)
    # A CA with a rotation (onto a root made for it), so that getCaRotation has one to answer.
    await api.ok("POST", f"{CM}/cas", json={"type": "root", "name": "rotating-root"}, status=201)
    await api.ok("POST", f"{CM}/cas/rotating-root/rotation", json={"to": "rotated-root", "create": True})
    await api.ok("POST", f"{CM}/certificate-policies", json={"name": "spare"}, status=201)
    await api.ok(
        "POST", f"{CM}/certificate-profiles", json={"name": "spare", "caId": "corp-root"}, status=201
    )
    for name in ("web-files", "doomed-files"):  # on a live certificate: deleting one drops its syncs
        sync = {"name": name, "destinationType": "directory", "certificateId": certificates[0]}
        await api.ok("POST", f"{CM}/syncs", json={**sync, "config": {"path": str(files / name)}}, status=201)
    kids = [(await api.ok("POST", f"{CM}/eab-keys", json={}, status=201))["kid"] for _ in range(2)]
    spare = await api.ok("POST", "/api/v1/tokens", json={"name": "spare", "role": "viewer"}, status=201)
    live = {
        "ca": ["corp-root", "corp-issuing", pki["inter"]["id"], "offline-issuing", "rotating-root"],
        "policy": ["internal", "spare", pki["policy"]["id"]],
        "profile": ["web", "spare", pki["profile"]["id"]],
        "request": [kept["id"]],
        "certificate": certificates[:2],
        "sync": ["web-files"],
        "kid": kids[:1],
    }
    doomed = {
        "policy": ["spare", "internal"],  # internal: in use by web, 409
        "profile": ["spare", "web"],  # web: certificates use it, 409
        "certificate": certificates[2:],
        "sync": ["doomed-files"],
        "kid": kids[1:],
        "token": [spare["id"], "spare"],
    }
    return World(live, doomed)


def _bindings(dictionaries: dict[str, list[str]], prefix: str) -> str:
    """Half of the values of each path parameter from its dictionary, the rest generated."""
    return ", ".join(
        f'"path.{name}" = {{ dictionary = "{prefix}{name}", probability = 0.5 }}' for name in dictionaries
    )


def _config(api: ApiServer, role: str, world: World) -> str:
    """schemathesis.toml for one role (TOML strings written as JSON strings, which TOML reads alike)."""
    q = json.dumps
    lines = [
        f"seed = {SEED}",
        "workers = 1",
        "continue-on-failure = true",
        f"parameters = {{ {_bindings(world.live, '')} }}",
        "[headers]",
        f"Authorization = {q('Bearer ' + api.secrets[role])}",
        "[generation]",
        f"max-examples = {EXAMPLES}",
        "deterministic = true",
        'database = "none"',
        "[phases.stateful]",
        "enabled = false",  # the document declares no links between operations
        # Path values from the dictionaries or generated, never ids picked up from earlier responses:
        # a delete then only ever takes what `doomed` lists.
        "[phases.coverage.extra-data-sources]",
        "responses = false",
        "[phases.fuzzing.extra-data-sources]",
        "responses = false",
        "[checks]",
        "enabled = false",
        *(f"{check}.enabled = true" for check in CHECKS),
        "[[operations]]",
        'include-method = "DELETE"',
        f"parameters = {{ {_bindings(world.doomed, 'doomed-')} }}",
    ]
    for prefix, dictionaries in (("", world.live), ("doomed-", world.doomed)):
        for name, values in dictionaries.items():
            lines += [f'[dictionaries."{prefix}{name}"]', f"values = {q(values)}"]
    return "\n".join(lines) + "\n"


def _statuses(report: Path) -> dict[str, set[int]]:
    """{"GET /api/v1/...": statuses answered} from the run's NDJSON event report."""
    seen: dict[str, set[int]] = {}
    for line in report.read_text().splitlines():
        event = json.loads(line)
        recorder = (event.get("ScenarioFinished") or {}).get("recorder") or {}
        for interaction in (recorder.get("interactions") or {}).values():
            if interaction.get("response"):
                seen.setdefault(recorder["label"], set()).add(interaction["response"]["status_code"])
    return seen


# A request stopped before the handler: no or a wrong token, a role too low, a method the path lacks,
# a path the router does not know.
STOPPED = {401, 403, 404, 405}


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
async def test_every_operation_answers_as_documented_under_schemathesis(
    api: ApiServer, role: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = tmp_path / "syncs"
    files.mkdir()
    # Directory syncs the fuzzer creates write below this test's directory, nowhere else; an aws-acm
    # sync it makes finds no credentials and does not ask the cloud metadata address for some.
    api.rt.host = DestinationHost(directory_roots=(files,))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # ignored_auth sends wrong tokens; past api_token_failures_per_ip (20 per 5 minutes) every request
    # would be 429 and the rest of the run would test nothing (that limit: test_api_rate_limits.py;
    # the 429 is documented on every operation, test_api_documented_responses.py).
    api.rt.rate_limits = replace(api.rt.rate_limits, api_token_failures_per_ip=Limit(0, 300))
    world = await _world(api, files)
    config = tmp_path / "schemathesis.toml"
    config.write_text(_config(api, role, world))
    report = tmp_path / "events.ndjson"
    process = await asyncio.create_subprocess_exec(
        str(ST),
        "--config-file",
        str(config),
        "--no-color",
        "run",
        f"{api.url}/api/v1/openapi.json",
        "--report=ndjson",
        f"--report-ndjson-path={report}",
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if not k.startswith("SCHEMATHESIS_")},  # no user hooks
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=900)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, output.decode(errors="replace")  # the CLI's report of each failure

    # The run reached what it should: every operation; past the role check where the role may call
    # it, never past it where the role may not.
    seen = _statuses(report)
    # schemathesis leaves out the operation that serves the document it loaded (GET /openapi.json)
    operations = {f"{e.method} /api/v1{e.path}": e for e in ENDPOINTS if e.path != "/openapi.json"}
    assert seen.keys() == operations.keys()
    token = Role(role)
    for label, endpoint in operations.items():
        if endpoint.role is None or token.allows(endpoint.role):
            assert seen[label] - STOPPED, f"{label}: every request stopped before the handler {seen[label]}"
            if endpoint.method in ("GET", "DELETE"):  # what the dictionaries name exists: a success
                assert any(200 <= status < 300 for status in seen[label]), f"{label}: {seen[label]}"
        else:
            assert seen[label] <= STOPPED, f"{label}: a {role} token got past the role check {seen[label]}"
            assert 403 in seen[label], label
