"""Readiness (/readyz, docs/operations.md "Health"): the database answers, its schema is at this
code's head, and every active CA's key opens with this server's KEK. Liveness needs none of it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from acme_server.errors import ConfigError
from acme_server.services.config import cas, catalog
from acme_server.services.runtime import Runtime
from acme_server.statuses import CAStatus
from ca_core.errors import CAError

CHECK_TIMEOUT = 5.0  # seconds: a database that does not answer by then is not ready
OK = "ok"


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, str]  # database, migrations, ca_keys -> "ok" or why not

    @property
    def ready(self) -> bool:
        return all(outcome == OK for outcome in self.checks.values())


async def readiness(rt: Runtime) -> Readiness:
    """Each check in order; those that cannot run without the database say so."""
    checks = {"database": OK, "migrations": OK, "ca_keys": OK}
    try:
        await asyncio.wait_for(rt.storage.check_schema(), CHECK_TIMEOUT)
    except TimeoutError:
        checks["database"] = f"no answer within {CHECK_TIMEOUT:g} s"
    except ConfigError as exc:  # the schema is at another revision
        checks["migrations"] = exc.detail
    except CAError as exc:  # Unavailable: no connection
        checks["database"] = exc.detail
    if checks["database"] != OK:  # nothing else can be checked
        checks["migrations"] = checks["ca_keys"] = "not checked: no database"
        return Readiness(checks)
    checks["ca_keys"] = await _ca_keys(rt)
    return Readiness(checks)


async def _ca_keys(rt: Runtime) -> str:
    """ "ok", or the names of the active CAs whose key does not open (a wrong KEK, say)."""
    try:
        configuration = await asyncio.wait_for(catalog.current(rt), CHECK_TIMEOUT)
    except (TimeoutError, CAError, OSError) as exc:
        return f"not checked: the CAs could not be read ({type(exc).__name__})"
    failed = []
    for record in configuration.ca_records.values():
        if record.status != CAStatus.ACTIVE:
            continue
        try:
            cas.authority_in(rt, configuration, record.id)  # unsealed once per process, then cached
        except CAError:
            failed.append(record.name)
    return OK if not failed else "cannot open the key of CA " + ", ".join(repr(n) for n in sorted(failed))
