"""Builders for the ACME storage tests (accounts, authorizations, orders) and a statement counter."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event

from acme_server.storage import AccountRecord, AuthorizationRecord, NewAuthorization, OrderRecord, Storage, Tx
from tests.storage.factories import NOW

CHALLENGES = (("http-01", "token-h"), ("dns-01", "token-d"), ("tls-alpn-01", "token-t"))


async def make_account(tx: Tx, **overrides: Any) -> AccountRecord:
    thumbprint = secrets.token_urlsafe(32)
    values: dict[str, Any] = {
        "jwk_thumbprint": thumbprint,
        "jwk": {"kty": "EC", "crv": "P-256", "x": thumbprint, "y": "y"},
        "contacts": ["mailto:admin@example.com"],
        "terms_agreed": True,
    }
    values.update(overrides)
    return await tx.accounts.create(**values)


def new_authorization(account_id: str, value: str = "a.example", **overrides: Any) -> NewAuthorization:
    values: dict[str, Any] = {
        "account_id": account_id,
        "identifier_type": "dns",
        "identifier_value": value,
        "wildcard": False,
        "status": "pending",
        "expires_at": NOW + timedelta(days=7),
        "pre_authorized": False,
        "challenges": tuple((kind, f"{token}-{value}") for kind, token in CHALLENGES),
    }
    values.update(overrides)
    return NewAuthorization(**values)


async def make_authorizations(tx: Tx, account_id: str, *values: str) -> list[AuthorizationRecord]:
    return await tx.authorizations.create_many([new_authorization(account_id, value) for value in values])


async def make_order(tx: Tx, account_id: str, *names: str, **overrides: Any) -> OrderRecord:
    """An order for `names`, with new authorizations unless `authorization_ids` is given."""
    names = names or ("a.example",)
    if "authorization_ids" not in overrides:
        authorizations = await make_authorizations(tx, account_id, *names)
        overrides["authorization_ids"] = [a.id for a in authorizations]
    values: dict[str, Any] = {
        "account_id": account_id,
        "profile_id": None,
        "identifiers": [{"type": "dns", "value": name} for name in names],
        "not_before": None,
        "not_after": None,
        "expires_at": NOW + timedelta(days=7),
    }
    values.update(overrides)
    return await tx.orders.create(**values)


class StatementCounter:
    """The SQL statements the engine sent since the last reset (an executemany counts once)."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def reset(self) -> None:
        self.statements.clear()

    @property
    def count(self) -> int:
        return len(self.statements)

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)


@contextmanager
def counting(storage: Storage) -> Iterator[StatementCounter]:
    counter = StatementCounter()
    engines = list(storage.engines)
    for engine in engines:
        event.listen(engine, "before_cursor_execute", counter)
    try:
        yield counter
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", counter)
