"""Authorizations (§7.5): POST-as-GET, deactivation (§7.5.2) and newAuthz pre-authorization (§7.4.1);
challenge POSTs (§7.5.1), idempotent and answered with Retry-After while processing."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from acme_server.acme import links, render
from acme_server.acme.jws import verify_post
from acme_server.errors import Malformed
from acme_server.services.acme import authorizations, challenges
from acme_server.statuses import AuthorizationStatus, ChallengeStatus


async def authorization(request: Request) -> Response:
    post = await verify_post(request)
    rt = links.runtime(request)
    account = post.require_account()
    authorization_id = request.path_params["authorization_id"]
    if post.post_as_get:
        record = await authorizations.get_authorization(rt, account, authorization_id)
    else:
        if post.json().get("status") != AuthorizationStatus.DEACTIVATED:
            raise Malformed("an authorization can only be updated to status deactivated")
        record = await authorizations.deactivate(rt, account, authorization_id)
    body = render.authorization(request, record, rt.clock.now())
    headers = {}
    validating = any(c["status"] == ChallengeStatus.PROCESSING for c in body["challenges"])
    if body["status"] == AuthorizationStatus.PENDING and validating:
        headers["Retry-After"] = render.RETRY_AFTER_SECONDS  # a validation is running: poll in a second
    return render.json_response(body, 200, **headers)


async def new_authz(request: Request) -> Response:
    post = await verify_post(request)
    rt = links.runtime(request)
    record = await authorizations.new_authz(rt, post.require_account(), post.json().get("identifier"))
    return render.json_response(
        render.authorization(request, record, rt.clock.now()),
        201,
        Location=links.authorization_url(request, record.id),
    )


async def challenge(request: Request) -> Response:
    """§7.5.1: an empty object starts validation; POST-as-GET only reads."""
    post = await verify_post(request)
    rt = links.runtime(request)
    account = post.require_account()
    challenge_id = request.path_params["challenge_id"]
    if post.post_as_get:
        record, parent = await challenges.get_challenge(rt, account, challenge_id)
    else:
        post.json()  # §7.5.1: the payload is an (empty) JSON object
        wait = request.app.state.settings.challenge_wait
        record, parent = await challenges.respond(rt, account, challenge_id, wait=wait)
    headers = {"Link": f'<{links.authorization_url(request, parent.id)}>;rel="up"'}
    if record.status == ChallengeStatus.PROCESSING:
        headers["Retry-After"] = render.RETRY_AFTER_SECONDS
    return render.json_response(render.challenge(request, record), 200, **headers)
