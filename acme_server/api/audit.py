"""/audit (admin): the audit log, newest first, paged and filtered as the certificates list."""

from __future__ import annotations

from typing import Any

from acme_server.api import views
from acme_server.api.http import Call
from acme_server.services.platform import audit


async def list_events(call: Call) -> dict[str, Any]:
    q = call.query
    limit, offset = q.get("limit", 50), q.get("offset", 0)
    since = audit.parse_since(q["since"], call.rt.clock.now()) if "since" in q else None
    found, total = await audit.list_events(
        call.rt,
        since=since,
        actor=q.get("actor"),
        action=q.get("action"),
        target=q.get("target"),
        limit=limit,
        offset=offset,
    )
    return views.page("events", [event.as_dict() for event in found], total, limit, offset)
