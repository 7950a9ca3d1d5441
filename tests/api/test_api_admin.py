"""Admin endpoints over real HTTP: EAB keys (the HMAC key shown once) and API tokens (the secret shown
once, usable at once, gone when revoked)."""

from __future__ import annotations

from ca_core.jose import b64decode
from tests.api.conftest import CM, ApiServer, make_pki


async def test_eab_keys_create_list_delete(api: ApiServer) -> None:
    await make_pki(api, profile={"enrollmentMethods": ["api", "acme"]})
    anywhere = await api.ok("POST", f"{CM}/eab-keys", status=201, json={})
    for_web = await api.ok("POST", f"{CM}/eab-keys", status=201, json={"profile": "web"})
    assert set(anywhere) == {"kid", "hmacKey", "profile", "maxAccounts"} and anywhere["profile"] is None
    assert anywhere["maxAccounts"] == 1
    assert len(b64decode(for_web["hmacKey"])) == 32 and for_web["profile"] == "web"
    listed = (await api.ok("GET", f"{CM}/eab-keys"))["eabKeys"]
    assert [(k["kid"], k["profile"], k["maxAccounts"], k["accounts"]) for k in listed] == [
        (anywhere["kid"], None, 1, []),
        (for_web["kid"], "web", 1, []),
    ]
    assert all("hmacKey" not in k for k in listed)
    assert [k["kid"] for k in (await api.ok("GET", f"{CM}/eab-keys?profile=web"))["eabKeys"]] == [
        for_web["kid"]
    ]
    await api.ok("DELETE", f"{CM}/eab-keys/{anywhere['kid']}", status=204)
    problem = await api.problem("DELETE", f"{CM}/eab-keys/{anywhere['kid']}", 404, "not-found")
    assert problem["detail"] == f"no external account key {anywhere['kid']!r}"
    await api.problem("POST", f"{CM}/eab-keys", 404, "not-found", json={"profile": "nope"})
    await api.problem("GET", f"{CM}/eab-keys", 403, "forbidden", role="operator")


async def test_eab_fleet_keys_show_disable_enable_and_delete_with_their_accounts(api: ApiServer) -> None:
    await make_pki(api, profile={"enrollmentMethods": ["api", "acme"]})
    fleet = await api.ok("POST", f"{CM}/eab-keys", status=201, json={"maxAccounts": None})
    assert fleet["maxAccounts"] is None
    kid = fleet["kid"]
    shown = await api.ok("GET", f"{CM}/eab-keys/{kid}")
    assert (shown["maxAccounts"], shown["accountCount"], shown["disabledAt"], shown["accounts"]) == (
        None,
        0,
        None,
        [],
    )
    disabled = await api.ok("POST", f"{CM}/eab-keys/{kid}/disable", json={"deactivateAccounts": True})
    assert disabled["disabledAt"] is not None
    enabled = await api.ok("POST", f"{CM}/eab-keys/{kid}/enable")
    assert enabled["disabledAt"] is None
    problem = await api.problem("POST", f"{CM}/eab-keys", 400, "invalid-field", json={"maxAccounts": 0})
    assert problem["field"] == "maxAccounts"
    await api.problem("GET", f"{CM}/eab-keys/nope", 404, "not-found")
    await api.problem("POST", f"{CM}/eab-keys/nope/disable", 404, "not-found", json={})
    await api.problem("POST", f"{CM}/eab-keys/nope/enable", 404, "not-found")
    await api.problem("DELETE", f"{CM}/eab-keys/{kid}?deactivateAccounts=maybe", 400, "invalid-field")
    await api.ok("DELETE", f"{CM}/eab-keys/{kid}?deactivateAccounts=true", status=204)


async def test_tokens_create_list_revoke(api: ApiServer) -> None:
    created = await api.ok(
        "POST", "/api/v1/tokens", status=201, json={"name": "ci", "role": "viewer", "expiresIn": "90d"}
    )
    assert (created["name"], created["role"]) == ("ci", "viewer") and created["token"].startswith("acmes_")
    assert created["expiresAt"] is not None
    viewer = {"Authorization": f"Bearer {created['token']}"}
    assert (await api.ok("GET", f"{CM}/cas", role=None, headers=viewer)) == {"cas": []}
    await api.problem("POST", f"{CM}/cas", 403, "forbidden", role=None, headers=viewer, json={})
    listed = (await api.ok("GET", "/api/v1/tokens"))["tokens"]
    assert [t["name"] for t in listed] == ["viewer-test", "operator-test", "admin-test", "ci"]
    assert all("token" not in t for t in listed)
    assert listed[-1]["lastUsedAt"] is not None
    await api.ok("DELETE", "/api/v1/tokens/ci", status=204)
    await api.problem("GET", f"{CM}/cas", 401, "unauthorized", role=None, headers=viewer)
    problem = await api.problem(
        "POST", "/api/v1/tokens", 400, "invalid-field", json={"name": "x", "role": "root"}
    )
    assert problem["field"] == "role"
    problem = await api.problem(
        "POST", "/api/v1/tokens", 400, "invalid-field", json={"name": "x", "role": "admin", "expiresIn": "0d"}
    )
    assert problem["field"] == "expiresIn"
    await api.problem("DELETE", "/api/v1/tokens/nope", 404, "not-found")
