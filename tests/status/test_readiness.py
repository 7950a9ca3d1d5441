"""/readyz (docs/operations.md "Health") over real HTTP on both engines: ready with the KEK that
sealed the CA keys, 503 naming the CA whose key does not open with another, 503 without a database."""

from __future__ import annotations

from pathlib import Path

import httpx

from acme_server.config import Settings
from acme_server.services.platform import bootstrap
from acme_server.services.runtime import Runtime
from acme_server.sidecar import create_status_app
from acme_server.storage import Storage
from ca_core.keyprotect import KeyEncryptionKey
from tests.servers import serving
from tests.validation.responders import unused_port


async def _readyz(rt: Runtime, tmp_path: Path) -> httpx.Response:
    port = unused_port()
    app = create_status_app(Settings(data_dir=tmp_path), runtime=rt)
    async with serving(app, port), httpx.AsyncClient() as client:
        return await client.get(f"http://127.0.0.1:{port}/readyz")


async def test_readyz_is_ready_when_every_check_passes(storage: Storage, tmp_path: Path) -> None:
    rt = Runtime(storage=storage, kek=KeyEncryptionKey.generate(), public_url="https://127.0.0.1:1")
    await bootstrap.ensure_dev_setup(rt)
    response = await _readyz(rt, tmp_path)
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "ca_keys": "ok"},
    }


async def test_readyz_is_503_naming_the_cas_whose_key_does_not_open(storage: Storage, tmp_path: Path) -> None:
    sealed_with = Runtime(storage=storage, kek=KeyEncryptionKey.generate(), public_url="https://127.0.0.1:1")
    await bootstrap.ensure_dev_setup(sealed_with)
    other_kek = Runtime(storage=storage, kek=KeyEncryptionKey.generate(), public_url="https://127.0.0.1:1")
    response = await _readyz(other_kek, tmp_path)
    assert response.status_code == 503
    document = response.json()
    assert document["status"] == "unready"
    assert document["checks"]["database"] == "ok" and document["checks"]["migrations"] == "ok"
    assert document["checks"]["ca_keys"].startswith("cannot open the key of CA '")


async def test_readyz_is_503_when_the_database_does_not_answer(tmp_path: Path) -> None:
    storage = await Storage.open(f"sqlite:///{tmp_path / 'gone.db'}")
    rt = Runtime(storage=storage, kek=KeyEncryptionKey.generate(), public_url="https://127.0.0.1:1")
    (tmp_path / "gone.db").unlink()
    (tmp_path / "gone.db").mkdir()  # the path is no database any more
    try:
        response = await _readyz(rt, tmp_path)
    finally:
        await storage.close()
    assert response.status_code == 503
    assert response.json()["checks"] == {
        "database": response.json()["checks"]["database"],
        "migrations": "not checked: no database",
        "ca_keys": "not checked: no database",
    }
    assert response.json()["checks"]["database"].startswith("the database does not answer")
