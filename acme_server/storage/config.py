"""The configuration generation: one number that moves whenever a CA, policy, profile or cross
certificate changes (ConfigRepository bumps it in the writer's transaction)."""

from __future__ import annotations

from typing import Final

from sqlalchemy import select

from acme_server.storage.base import Repository
from acme_server.storage.prepared import prepared
from acme_server.storage.tables import config_generation

_CURRENT: Final = prepared(select(config_generation.c.value))


class ConfigGenerationRepository(Repository):
    async def current(self) -> int:
        """The generation this transaction sees; read it BEFORE the configuration it guards, so a
        change committed in between can only make the cache look older than it is, never newer."""
        return int((await self._execute(_CURRENT)).scalar_one())
