"""The ACME route table (one named route per endpoint; links.py builds URLs from these names) and the
middleware that puts Replay-Nonce, Link rel="index" and Cache-Control on every ACME response."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from acme_server.acme import accounts, authorizations, certificates, directory, orders, renewal_info
from acme_server.acme.problems import handle_unexpected
from acme_server.services.acme.nonces import Nonces
from acme_server.services.runtime import Runtime

POST = ["POST"]

ROUTES: list[BaseRoute] = [
    Route("/acme/directory", directory.directory, name="directory", methods=["GET"]),
    Route(
        "/acme/profiles/{profile}/directory", directory.directory, name="profile_directory", methods=["GET"]
    ),
    Route("/acme/new-nonce", directory.new_nonce, name="new_nonce", methods=["GET", "HEAD"]),
    Route("/acme/new-account", accounts.new_account, name="new_account", methods=POST),
    Route(
        "/acme/profiles/{profile}/new-account", accounts.new_account, name="profile_new_account", methods=POST
    ),
    Route("/acme/new-order", orders.new_order, name="new_order", methods=POST),
    Route("/acme/profiles/{profile}/new-order", orders.new_order, name="profile_new_order", methods=POST),
    Route("/acme/new-authz", authorizations.new_authz, name="new_authz", methods=POST),
    Route("/acme/revoke-cert", certificates.revoke_cert, name="revoke_cert", methods=POST),
    Route("/acme/key-change", accounts.key_change, name="key_change", methods=POST),
    Route("/acme/account/{account_id}", accounts.account, name="account", methods=POST),
    Route("/acme/account/{account_id}/orders", accounts.account_orders, name="account_orders", methods=POST),
    Route("/acme/order/{order_id}", orders.order, name="order", methods=POST),
    Route("/acme/order/{order_id}/finalize", orders.finalize, name="finalize", methods=POST),
    Route("/acme/authz/{authorization_id}", authorizations.authorization, name="authorization", methods=POST),
    Route("/acme/chall/{challenge_id}", authorizations.challenge, name="challenge", methods=POST),
    Route("/acme/cert/{certificate_id}", certificates.certificate, name="certificate", methods=POST),
    Route(  # RFC 9773 §4.2: GET, unauthenticated
        "/acme/renewal-info/{cert_id}", renewal_info.get_renewal_info, name="renewal_info", methods=["GET"]
    ),
    Route(
        "/acme/cert/{certificate_id}/{alternate:int}",
        certificates.certificate,
        name="certificate_alternate",
        methods=POST,
    ),
]


class AcmeHeaders:
    """§6.5: a fresh nonce on every response (errors included); §7.1: Link to the directory."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/acme/"):
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        rt: Runtime = state.runtime
        nonces: Nonces = state.nonces
        path: str = scope["path"]
        index = f"{rt.public_url}/acme/directory"
        if path.startswith("/acme/profiles/"):
            index = f"{rt.public_url}/acme/profiles/{path.split('/')[3]}/directory"

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                headers["Replay-Nonce"] = nonces.issue(rt.clock.now())
                headers.append("Link", f'<{index}>;rel="index"')
                if "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            # An unexpected error passes every inner handler; Starlette's outermost one would answer
            # without our headers. Answer here so the 500 carries a nonce and Link too (§6.5).
            if started:
                raise
            response = await handle_unexpected(Request(scope), exc)
            await response(scope, receive, send_with_headers)
