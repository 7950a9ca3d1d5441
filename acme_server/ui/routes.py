"""The UI's route table: one named route per page or action, mounted at /ui as `ui:<name>`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from acme_server.ui import accounts, audit, auth, cas, certificates, documents, eab, requests, syncs, tokens
from acme_server.ui.pages import Page, page


async def home(request: Request) -> Response:
    return RedirectResponse(request.app.url_path_for("ui:certificates"), status_code=303)


@page(None)
async def not_found(current: Page) -> Response:
    """Any other path under /ui: a page, not the ACME problem document the rest of the server sends."""
    return current.render("error.html", status=404, title="Not found", detail="There is no such page.")


_CERTIFICATE = "/certificates/{id}"


def _document_routes(kind: documents.Kind) -> list[BaseRoute]:
    """A profile's or policy's pages: list, new, create, show (its form), update, delete."""
    handlers = documents.handlers(kind)
    base, one = f"/{kind.plural}", f"/{kind.plural}/{{id}}"
    return [
        Route(base, handlers[kind.plural], name=kind.plural),
        Route(base + "/new", handlers[f"new_{kind.key}"], name=f"new_{kind.key}"),
        Route(base, handlers[f"create_{kind.key}"], methods=["POST"], name=f"create_{kind.key}"),
        Route(one, handlers[kind.key], name=kind.key),
        Route(one, handlers[f"update_{kind.key}"], methods=["POST"], name=f"update_{kind.key}"),
        Route(one + "/delete", handlers[f"delete_{kind.key}"], methods=["POST"], name=f"delete_{kind.key}"),
    ]


_SYNC = _CERTIFICATE + "/syncs/{sync}"

ROUTES: list[BaseRoute] = [
    Mount(
        "/ui",
        name="ui",
        routes=[
            Route("/", home, name="home"),
            Route("/sign-in", auth.sign_in, methods=["GET", "POST"], name="sign_in"),
            Route("/sign-out", auth.sign_out, methods=["POST"], name="sign_out"),
            Route("/certificates", certificates.list_certificates, name="certificates"),
            Route(_CERTIFICATE, certificates.show_certificate, name="certificate"),
            Route(_CERTIFICATE + "/metadata", certificates.edit_metadata, methods=["POST"], name="metadata"),
            Route(_CERTIFICATE + "/export/pem", certificates.export_pem, methods=["POST"], name="export_pem"),
            Route(
                _CERTIFICATE + "/export/pkcs12",
                certificates.export_pkcs12,
                methods=["POST"],
                name="export_pkcs12",
            ),
            Route(_CERTIFICATE + "/revoke", certificates.revoke, methods=["POST"], name="revoke"),
            Route(_CERTIFICATE + "/auto-renew", certificates.auto_renew, methods=["POST"], name="auto_renew"),
            Route(_CERTIFICATE + "/renew", certificates.renew_now, methods=["POST"], name="renew"),
            Route(_CERTIFICATE + "/syncs", syncs.add_sync, methods=["POST"], name="add_sync"),
            Route(_CERTIFICATE + "/syncs/{sync}/push", syncs.push_sync, methods=["POST"], name="push_sync"),
            Route(
                _CERTIFICATE + "/syncs/{sync}/remove", syncs.remove_sync, methods=["POST"], name="remove_sync"
            ),
            Route(_CERTIFICATE + "/delete", certificates.delete, methods=["POST"], name="delete"),
            Route("/requests", requests.list_requests, name="requests"),
            Route("/requests", requests.create_request, methods=["POST"], name="create_request"),
            Route("/cas", cas.list_cas, name="cas"),
            Route("/cas", cas.create_ca, methods=["POST"], name="create_ca"),
            Route("/cas/{id}", cas.show_ca, name="ca"),
            Route("/cas/{id}/rotation", cas.start_rotation, methods=["POST"], name="start_rotation"),
            Route("/cas/{id}/rotation/finish", cas.finish_rotation, methods=["POST"], name="finish_rotation"),
            Route("/cas/{id}/rotation/cancel", cas.cancel_rotation, methods=["POST"], name="cancel_rotation"),
            *_document_routes(documents.PROFILES),
            *_document_routes(documents.POLICIES),
            Route("/syncs", syncs.list_syncs, name="syncs"),
            Route("/syncs", syncs.add_sync, methods=["POST"], name="create_sync"),
            Route("/syncs/{sync}/push", syncs.push_sync, methods=["POST"], name="run_sync"),
            Route("/syncs/{sync}/remove", syncs.remove_sync, methods=["POST"], name="delete_sync"),
            Route("/accounts", accounts.list_accounts, name="accounts"),
            Route("/accounts/{id}", accounts.show_account, name="account"),
            Route(
                "/accounts/{id}/deactivate",
                accounts.deactivate_account,
                methods=["POST"],
                name="deactivate_account",
            ),
            Route("/eab-keys", eab.list_eab_keys, name="eab_keys"),
            Route("/eab-keys", eab.create_eab_key, methods=["POST"], name="create_eab_key"),
            Route("/eab-keys/{kid}/disable", eab.disable_eab_key, methods=["POST"], name="disable_eab_key"),
            Route("/eab-keys/{kid}/enable", eab.enable_eab_key, methods=["POST"], name="enable_eab_key"),
            Route("/eab-keys/{kid}/delete", eab.delete_eab_key, methods=["POST"], name="delete_eab_key"),
            Route("/tokens", tokens.list_tokens, name="tokens"),
            Route("/tokens", tokens.create_token, methods=["POST"], name="create_token"),
            Route("/tokens/{id}/revoke", tokens.revoke_token, methods=["POST"], name="revoke_token"),
            Route("/audit", audit.list_events, name="audit"),
            Mount("/static", StaticFiles(packages=[("acme_server.ui", "static")]), name="static"),
            Route("/{path:path}", not_found, name="not_found"),
        ],
    )
]
