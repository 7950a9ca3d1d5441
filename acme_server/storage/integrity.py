"""The one place that turns a driver's IntegrityError (sqlite3 or asyncpg) into acme_server.errors.Conflict
with a one-line detail naming what clashed; other integrity errors (NOT NULL, CHECK) are bugs and stay."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import PrimaryKeyConstraint, UniqueConstraint
from sqlalchemy.exc import IntegrityError

from acme_server.errors import Conflict
from acme_server.storage.tables import metadata

# (table, clashing columns) -> detail; placeholders are filled from the statement's parameters.
_UNIQUE_DETAILS: dict[tuple[str, tuple[str, ...]], str] = {
    ("cas", ("name",)): "a CA named {name!r} already exists",
    ("policies", ("name",)): "a policy named {name!r} already exists",
    ("profiles", ("name",)): "a profile named {name!r} already exists",
    ("certificates", ("ca_id", "serial")): "a certificate with serial {serial} already exists for this CA",
    ("crls", ("ca_id", "number")): "CRL number {number} already exists for this CA",
    ("api_tokens", ("token_hash",)): "an API token with the same secret already exists",
    ("leases", ("name",)): "lease {name!r} already exists",
    ("ca_rotations", ("active_old_ca_id",)): "the CA already has a rotation under way",
    ("acme_accounts", ("jwk_thumbprint",)): "an account with this key already exists",
    ("eab_keys", ("kid",)): "an external account key {kid!r} already exists",
    ("acme_nonces", ("nonce",)): "the nonce already exists",
    ("acme_challenges", ("authorization_id", "type")): "the authorization already has a {type} challenge",
}
_FOREIGN_KEY_DETAIL = "the change refers to a record that does not exist, or removes one still in use"

_SQLITE_UNIQUE = re.compile(r"^UNIQUE constraint failed: (?P<columns>.+)$")
_PG_UNIQUE_VIOLATION = "23505"
_PG_FOREIGN_KEY_VIOLATION = "23503"


def _constraint_columns() -> dict[str, tuple[str, tuple[str, ...]]]:
    """PostgreSQL reports the constraint's name; map every unique key's name to (table, columns)."""
    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    for table in metadata.tables.values():
        for constraint in table.constraints:
            if isinstance(constraint, UniqueConstraint | PrimaryKeyConstraint) and constraint.name:
                found[str(constraint.name)] = (table.name, tuple(c.name for c in constraint.columns))
        for index in table.indexes:
            if index.unique and index.name:
                found[str(index.name)] = (table.name, tuple(c.name for c in index.columns))
    return found


_BY_CONSTRAINT = _constraint_columns()


class _Values(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def _detail(table: str, columns: tuple[str, ...], values: Mapping[str, Any]) -> str:
    template = _UNIQUE_DETAILS.get((table, columns))
    if template is None:
        return f"a {table} record with the same {', '.join(columns)} already exists"
    return template.format_map(_Values(values))


def _sqlite_key(message: str) -> tuple[str, tuple[str, ...]] | None:
    match = _SQLITE_UNIQUE.match(message)
    if match is None:
        return None
    qualified = [c.strip() for c in match.group("columns").split(",")]
    table = qualified[0].split(".", 1)[0]
    return table, tuple(c.split(".", 1)[1] for c in qualified)


def _postgres_code(original: BaseException) -> str | None:
    code = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    return code if isinstance(code, str) else None


def _postgres_key(original: BaseException) -> tuple[str, tuple[str, ...]] | None:
    # SQLAlchemy's asyncpg adapter raises its own error `from` asyncpg's, which names the constraint.
    constraint = getattr(original.__cause__, "constraint_name", None)
    return _BY_CONSTRAINT.get(constraint) if isinstance(constraint, str) else None


def as_conflict(error: IntegrityError, values: Mapping[str, Any]) -> Conflict | None:
    """The Conflict a unique or foreign-key violation means, or None for any other integrity error.
    `values` are the statement's parameters by column name (drivers only keep positional ones)."""
    original = error.orig
    if original is None:
        return None
    code = _postgres_code(original)
    if code == _PG_FOREIGN_KEY_VIOLATION or str(original).startswith("FOREIGN KEY constraint failed"):
        return Conflict(_FOREIGN_KEY_DETAIL)
    if code == _PG_UNIQUE_VIOLATION:
        key = _postgres_key(original)
    elif code is None:
        key = _sqlite_key(str(original))
    else:
        return None
    if key is None:
        return Conflict("the record already exists") if code == _PG_UNIQUE_VIOLATION else None
    return Conflict(_detail(key[0], key[1], values))
