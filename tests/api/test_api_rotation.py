"""/cert-manager/cas/{ca}/rotation over real HTTP on both engines: an admin starts (or resumes) a
rotation, anyone with a token reads its progress, an admin finishes or cancels it; the refusals are
precise problems (409 for a second rotation or dependants, 403 below admin, 404 before any rotation)."""

from __future__ import annotations

from tests.api.conftest import CM, ApiServer, issue_managed, make_pki

ROTATION = f"{CM}/cas/corp-issuing/rotation"


async def test_a_rotation_is_started_read_and_finished(api: ApiServer) -> None:
    await make_pki(api)
    issued = (await issue_managed(api))["certificate"]
    started = await api.ok(
        "POST", ROTATION, json={"to": "corp-issuing-2", "create": True, "spread": "0", "grace": "2h"}
    )
    new = await api.ok("GET", f"{CM}/cas/corp-issuing-2", role="viewer")
    assert started["newCaId"] == new["id"]
    assert (started["oldCa"], started["newCa"], started["state"]) == (
        "corp-issuing",
        "corp-issuing-2",
        "renewing",
    )
    assert (started["spreadSeconds"], started["graceSeconds"], started["finishedAt"]) == (0, 7200, None)
    progress = started["progress"]
    assert (progress["onOldCa"], progress["renewed"], progress["notRenewing"], progress["waiting"]) == (
        1,
        0,
        0,
        1,
    )
    profile = await api.ok("GET", f"{CM}/certificate-profiles/web", role="viewer")
    assert profile["caId"] == new["id"]
    again = await api.ok("POST", ROTATION, json={"to": "corp-issuing-2"})  # resumes: the same one
    assert again["id"] == started["id"]
    assert (await api.ok("GET", ROTATION, role="viewer"))["id"] == started["id"]
    problem = await api.problem("POST", f"{ROTATION}/finish", 409, "conflict", json={})
    assert problem["detail"] == (
        "1 active certificate(s) still depend on CA 'corp-issuing' (0 not renewing);"
        " wait for them, or force it"
    )
    await api.ok("POST", f"{CM}/certificates/{issued['id']}/revoke", role="operator", json={})
    done = await api.ok("POST", f"{ROTATION}/finish", json={})
    assert done["state"] == "completed" and done["progress"]["onOldCa"] == 0
    assert (await api.ok("GET", f"{CM}/cas/corp-issuing", role="viewer"))["status"] == "disabled"
    problem = await api.problem("POST", f"{ROTATION}/cancel", 409, "conflict")
    assert problem["detail"] == "CA 'corp-issuing' has no rotation under way"


async def test_rotation_refusals_are_precise(api: ApiServer) -> None:
    await make_pki(api)
    problem = await api.problem("GET", ROTATION, 404, "not-found", role="viewer")
    assert problem["detail"] == "no rotation of CA 'corp-issuing'"
    problem = await api.problem("POST", ROTATION, 403, "forbidden", role="operator", json={"to": "x"})
    assert problem["detail"] == "token 'operator-test' has role operator; this needs admin"
    problem = await api.problem("POST", ROTATION, 400, "invalid-field", json={})
    assert problem["field"] == "to"
    problem = await api.problem(
        "POST", ROTATION, 400, "invalid-field", json={"to": "corp-root", "spread": "x"}
    )
    assert problem["field"] == "spread"
    problem = await api.problem("POST", ROTATION, 404, "not-found", json={"to": "nowhere"})
    assert problem["detail"] == "no CA 'nowhere'"
    await api.ok("POST", ROTATION, json={"to": "corp-root"})
    await api.ok("POST", f"{CM}/cas", json={"type": "root", "name": "other-root"}, status=201)
    problem = await api.problem("POST", ROTATION, 409, "conflict", json={"to": "other-root"})
    assert problem["detail"].startswith("CA 'corp-issuing' is already being rotated to 'corp-root'")
    problem = await api.problem("POST", f"{ROTATION}/finish", 403, "forbidden", role="viewer", json={})
    cancelled = await api.ok("POST", f"{ROTATION}/cancel")
    assert cancelled["state"] == "cancelled" and cancelled["finishedAt"] is not None
    assert (await api.ok("GET", f"{CM}/cas/corp-issuing", role="viewer"))["status"] == "active"
