"""UI sessions kept by the server (both engines): only a hash of the secret is stored, signing out or
the lifetime passing ends a session for every copy of its secret, and revoking the token ends them all."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from acme_server.services.access import tokens, ui_sessions
from acme_server.services.runtime import Runtime
from tests.fakes import FixedClock

NOW = datetime(2026, 1, 1, tzinfo=UTC)


async def test_a_session_signs_in_its_token_and_stores_only_a_hash(rt: Runtime) -> None:
    rt.clock = FixedClock(NOW)
    _, token = await tokens.create_token(rt, "alice", "operator")
    secret = await ui_sessions.start_session(rt, token)
    user = await ui_sessions.session_user(rt, secret)
    assert user is not None and (user.id, user.name, user.role) == (token.id, "alice", token.role)
    async with rt.storage.read() as tx:
        assert await tx.ui_sessions.count_for_token(token.id) == 1
        assert await tx.ui_sessions.find_token(secret, NOW) is None  # the secret itself is no key
        found = await tx.ui_sessions.find_token(hashlib.sha256(secret.encode()).hexdigest(), NOW)
    assert found is not None and found.id == token.id


async def test_sign_out_ends_the_session_for_every_copy(rt: Runtime) -> None:
    _, token = await tokens.create_token(rt, "bob", "viewer")
    first = await ui_sessions.start_session(rt, token)
    second = await ui_sessions.start_session(rt, token)  # another browser
    await ui_sessions.end_session(rt, first)
    assert await ui_sessions.session_user(rt, first) is None
    assert await ui_sessions.session_user(rt, second) is not None
    await ui_sessions.end_session(rt, first)  # twice: nothing left to end, no error


async def test_a_session_ends_after_its_lifetime_and_is_removed_later(rt: Runtime) -> None:
    clock = FixedClock(NOW)
    rt.clock = clock
    _, token = await tokens.create_token(rt, "carol", "admin")
    old = await ui_sessions.start_session(rt, token)
    clock.current = NOW + ui_sessions.LIFETIME
    assert await ui_sessions.session_user(rt, old) is None
    await ui_sessions.start_session(rt, token)  # the next sign-in removes sessions that ended
    async with rt.storage.read() as tx:
        assert await tx.ui_sessions.count_for_token(token.id) == 1


async def test_revoking_or_expiring_the_token_ends_its_sessions(rt: Runtime) -> None:
    clock = FixedClock(NOW)
    rt.clock = clock
    _, revoked = await tokens.create_token(rt, "dave", "operator")
    _, expiring = await tokens.create_token(rt, "erin", "operator", expires_in=timedelta(hours=1))
    revoked_session = await ui_sessions.start_session(rt, revoked)
    expiring_session = await ui_sessions.start_session(rt, expiring)
    await tokens.revoke_token(rt, revoked.id)
    assert await ui_sessions.session_user(rt, revoked_session) is None
    async with rt.storage.read() as tx:
        assert await tx.ui_sessions.count_for_token(revoked.id) == 0  # deleted with the token
    clock.current = NOW + timedelta(hours=1)
    assert await ui_sessions.session_user(rt, expiring_session) is None
