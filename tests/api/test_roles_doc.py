"""docs/security.md's roles table is the route table (acme_server/api/routes.py), row for row."""

from __future__ import annotations

from pathlib import Path

from acme_server.api.routes import ENDPOINTS


def _rows() -> str:
    return "".join(
        f"| `{e.method} {e.path}` | {e.role.value if e.role else 'none'} | {e.summary} |\n" for e in ENDPOINTS
    )


def test_the_roles_table_in_docs_matches_the_route_table() -> None:
    text = (Path(__file__).parents[2] / "docs" / "security.md").read_text()
    block = text.split("<!-- roles:begin -->\n", 1)[1].split("<!-- roles:end -->", 1)[0]
    header = "| endpoint (below /api/v1) | least role | what |\n|---|---|---|\n"
    assert block == header + _rows(), "regenerate the table in docs/security.md from ENDPOINTS"
