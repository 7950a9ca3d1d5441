"""Service tests run on both engines (the `storage` fixture is parametrized in tests/conftest.py)."""

from __future__ import annotations

import pytest

from acme_server.services.platform import bootstrap
from acme_server.services.runtime import Runtime
from acme_server.storage import Storage
from ca_core.keyprotect import KeyEncryptionKey

PUBLIC_URL = "https://127.0.0.1:14000"


@pytest.fixture
def rt(storage: Storage) -> Runtime:
    return Runtime(storage=storage, kek=KeyEncryptionKey.generate(), public_url=PUBLIC_URL)


@pytest.fixture
async def dev(rt: Runtime) -> Runtime:
    """A runtime with the dev CAs, `default` policy and profile created."""
    await bootstrap.ensure_dev_setup(rt)
    return rt
