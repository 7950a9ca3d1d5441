"""The audit log page (admin, as the API's /audit): newest first, filtered by since, actor, action and
target, paged; a bad `since` is shown next to its field."""

from __future__ import annotations

from starlette.responses import Response

from acme_server.services.access.tokens import Role
from acme_server.services.platform import audit
from acme_server.ui.pages import Page, page
from ca_core.errors import InvalidSetting

PAGE_SIZE = 50
FILTERS = ("since", "actor", "action", "target")


@page(Role.ADMIN)
async def list_events(current: Page) -> Response:
    query = {name: current.field(name) for name in FILTERS}
    text = current.field("page")
    number = int(text) if text.isdigit() and int(text) > 0 else 1
    errors: dict[str, str] = {}
    events: list[audit.AuditEvent] = []
    total = 0
    try:
        since = audit.parse_since(query["since"], current.rt.clock.now()) if query["since"] else None
        events, total = await audit.list_events(
            current.rt,
            since=since,
            actor=query["actor"],
            action=query["action"],
            target=query["target"],
            limit=PAGE_SIZE,
            offset=(number - 1) * PAGE_SIZE,
        )
    except InvalidSetting as exc:  # a bad since, or a NUL in a filter: shown at its field
        errors[exc.field if exc.field in FILTERS else "since"] = exc.detail
    return current.render(
        "audit.html",
        status=400 if errors else 200,
        events=events,
        total=total,
        number=number,
        pages=max(1, -(-total // PAGE_SIZE)),
        query=query,
        errors=errors,
    )
