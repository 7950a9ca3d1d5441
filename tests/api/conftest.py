"""A server per test on real HTTP over loopback (uvicorn in this event loop), on SQLite and PostgreSQL,
with one API token per role; `api.as_(role)` sends requests with that role's token."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from acme_server.app import create_app
from acme_server.config import Settings
from acme_server.destinations import DestinationHost
from acme_server.services.access import tokens
from acme_server.services.runtime import Runtime
from acme_server.storage import Storage
from ca_core.keyprotect import KeyEncryptionKey
from tests.api.exercised import EXERCISED
from tests.fakes import ScriptedValidator
from tests.servers import serving
from tests.validation.responders import unused_port

CM = "/api/v1/cert-manager"
EVERY_ENDPOINT_CHECK = "test_api_every_endpoint.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The every-endpoint check reads what the other API tests exercised: run it after all of them."""
    last = [item for item in items if item.path.name == EVERY_ENDPOINT_CHECK]
    items[:] = [item for item in items if item.path.name != EVERY_ENDPOINT_CHECK] + last


PROBLEM = "urn:acme-server:problem:"


@dataclass
class ApiServer:
    url: str
    rt: Runtime
    http: httpx.AsyncClient
    secrets: dict[str, str]

    def headers(self, role: str | None) -> dict[str, str]:
        return {} if role is None else {"Authorization": f"Bearer {self.secrets[role]}"}

    async def request(
        self, method: str, path: str, *, role: str | None = "admin", **kwargs: Any
    ) -> httpx.Response:
        headers = {**self.headers(role), **kwargs.pop("headers", {})}
        response = await self.http.request(method, self.url + path, headers=headers, **kwargs)
        EXERCISED.add((method, response.status_code, urlsplit(path).path))
        return response

    async def ok(self, method: str, path: str, *, status: int = 200, **kwargs: Any) -> Any:
        """The JSON of a request that must answer `status`."""
        response = await self.request(method, path, **kwargs)
        assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    async def problem(self, method: str, path: str, status: int, kind: str, **kwargs: Any) -> dict[str, Any]:
        """The problem document of a request that must fail with `status` and problem type `kind`."""
        response = await self.request(method, path, **kwargs)
        assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
        assert response.headers["content-type"] == "application/problem+json"
        document: dict[str, Any] = response.json()
        assert document["type"] == PROBLEM + kind, document
        assert document["status"] == status
        return document


@asynccontextmanager
async def api_server(storage: Storage, directory: Path) -> AsyncIterator[ApiServer]:
    """An API server on `storage` with its files in `directory`, one token per role, until the block
    ends (the `api` fixture per test; tests/hostile one per module)."""
    port = unused_port()
    settings = Settings(listen=f"127.0.0.1:{port}", data_dir=directory)
    rt = Runtime(storage=storage, kek=KeyEncryptionKey.generate(), public_url=f"http://127.0.0.1:{port}")
    # directory syncs of the tests write below the temporary directory (operators may create them)
    rt.host = DestinationHost(directory_roots=(Path(tempfile.gettempdir()),))
    secrets = {
        role.value: (await tokens.create_token(rt, f"{role.value}-test", role))[0] for role in tokens.Role
    }
    app = create_app(settings, runtime=rt, validator=ScriptedValidator())
    async with serving(app, port), httpx.AsyncClient(timeout=60) as http:
        yield ApiServer(f"http://127.0.0.1:{port}", rt, http, secrets)


@pytest.fixture
async def api(storage: Storage, tmp_path: Path) -> AsyncIterator[ApiServer]:
    async with api_server(storage, tmp_path) as server:
        yield server


@pytest.fixture
def audit_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="acme_server.audit")
    return caplog


async def make_pki(api: ApiServer, *, profile: dict[str, Any] | None = None) -> dict[str, Any]:
    """A root, an intermediate, a policy and a profile `web` issuing from the intermediate."""
    root = await api.ok("POST", f"{CM}/cas", json={"type": "root", "name": "corp-root"}, status=201)
    inter = await api.ok(
        "POST",
        f"{CM}/cas",
        json={"type": "intermediate", "name": "corp-issuing", "parent": "corp-root", "organization": "Corp"},
        status=201,
    )
    policy = await api.ok(
        "POST",
        f"{CM}/certificate-policies",
        json={
            "name": "internal",
            "altNames": {"dns": {"allowed": ["*.svc.example.internal"]}, "ip": {"allowed": ["10.0.0.0/8"]}},
            "commonName": {"allowed": ["*.svc.example.internal"]},
            "maxTtl": "90d",
        },
        status=201,
    )
    web = await api.ok(
        "POST",
        f"{CM}/certificate-profiles",
        json={
            "name": "web",
            "caId": "corp-issuing",
            "policyId": "internal",
            "defaultTtl": "30d",
            "maxTtl": "90d",
            "extendedKeyUsages": ["server_auth"],
            **(profile or {}),
        },
        status=201,
    )
    return {"root": root, "inter": inter, "policy": policy, "profile": web}


async def issue_managed(
    api: ApiServer, name: str = "api.svc.example.internal", **extra: Any
) -> dict[str, Any]:
    body = {
        "profile": "web",
        "managed": {
            "commonName": name,
            "organization": "Corp",
            "altNames": [name, "10.1.2.3"],
            "keyAlgorithm": "RSA_2048",
            "ttl": "30d",
        },
        "metadata": {"team": "payments", "env": "prod"},
        **extra,
    }
    request: dict[str, Any] = await api.ok(
        "POST", f"{CM}/certificate-requests", json=body, status=201, role="operator"
    )
    return request
