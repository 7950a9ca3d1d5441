"""API tokens: only a hash is stored, unknown/expired/revoked secrets are refused alike, roles nest."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from acme_server.errors import Forbidden, Malformed, NotFound, Unauthorized
from acme_server.services.access import tokens
from acme_server.services.access.tokens import Role, TokenInfo
from acme_server.services.runtime import Runtime
from tests.fakes import FixedClock

NOW = datetime(2026, 1, 1, tzinfo=UTC)


async def test_create_returns_the_secret_once_and_stores_only_its_hash(rt: Runtime) -> None:
    secret, info = await tokens.create_token(rt, "deploy", "operator")
    assert secret.startswith("acmes_") and len(secret) > 40
    assert (info.name, info.role, info.expires_at) == ("deploy", Role.OPERATOR, None)
    async with rt.storage.read() as tx:
        (record,) = await tx.tokens.list()
    assert record.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(record)


async def test_authenticate_returns_the_token_and_records_the_use(rt: Runtime) -> None:
    rt.clock = FixedClock(NOW)
    secret, created = await tokens.create_token(rt, "ci", Role.VIEWER)
    info = await tokens.authenticate(rt, secret)
    assert (info.id, info.name, info.role) == (created.id, "ci", Role.VIEWER)
    (listed,) = await tokens.list_tokens(rt)
    assert listed.last_used_at == NOW


async def test_unknown_expired_and_revoked_tokens_are_unauthorized(rt: Runtime) -> None:
    clock = FixedClock(NOW)
    rt.clock = clock
    secret, _ = await tokens.create_token(rt, "short", Role.ADMIN, timedelta(hours=1))
    kept, _ = await tokens.create_token(rt, "kept", Role.ADMIN)
    assert (await tokens.authenticate(rt, secret)).name == "short"
    clock.current = NOW + timedelta(hours=1)
    with pytest.raises(Unauthorized, match="unknown, revoked or expired"):
        await tokens.authenticate(rt, secret)
    with pytest.raises(Unauthorized, match="unknown, revoked or expired"):
        await tokens.authenticate(rt, "acmes_not-a-token")
    await tokens.revoke_token(rt, "kept")
    with pytest.raises(Unauthorized):
        await tokens.authenticate(rt, kept)
    assert [t.name for t in await tokens.list_tokens(rt)] == ["short"]


@pytest.mark.parametrize(
    ("role", "required", "allowed"),
    [
        (Role.ADMIN, Role.ADMIN, True),
        (Role.ADMIN, Role.VIEWER, True),
        (Role.OPERATOR, Role.OPERATOR, True),
        (Role.OPERATOR, Role.ADMIN, False),
        (Role.VIEWER, Role.VIEWER, True),
        (Role.VIEWER, Role.OPERATOR, False),
    ],
)
def test_roles_nest(role: Role, required: Role, allowed: bool) -> None:
    token = TokenInfo(id="t", name="n", role=role, created_at=NOW, expires_at=None, last_used_at=None)
    assert role.allows(required) is allowed
    if allowed:
        tokens.check_role(token, required)
    else:
        with pytest.raises(Forbidden, match=f"token 'n' has role {role.value}; this needs {required.value}"):
            tokens.check_role(token, required)


async def test_bad_input_is_refused(rt: Runtime) -> None:
    with pytest.raises(Malformed, match="role 'root': use one of viewer, operator, admin"):
        await tokens.create_token(rt, "x", "root")
    with pytest.raises(Malformed, match="name: must not be empty"):
        await tokens.create_token(rt, " ", Role.ADMIN)
    with pytest.raises(NotFound, match="no API token 'nope'"):
        await tokens.revoke_token(rt, "nope")
    await tokens.create_token(rt, "twin", Role.ADMIN)
    await tokens.create_token(rt, "twin", Role.VIEWER)
    with pytest.raises(Malformed, match="several API tokens are named 'twin'"):
        await tokens.revoke_token(rt, "twin")
