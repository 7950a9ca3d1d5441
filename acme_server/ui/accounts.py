"""ACME accounts: the list, one account with its orders and the certificates they issued, and
deactivation (admin: like disabling an EAB key with its accounts, it locks an ACME client out for
good, RFC 8555 §7.3.6)."""

from __future__ import annotations

import contextlib

from starlette.responses import Response

from acme_server.errors import NotFound
from acme_server.services.access.tokens import Role
from acme_server.services.acme import accounts, orders
from acme_server.services.inventory import certificates
from acme_server.services.inventory.certificates import CertificateInfo
from acme_server.ui.pages import Page, page

PAGE_SIZE = 25


@page()
async def list_accounts(current: Page) -> Response:
    text = current.field("page")
    number = int(text) if text.isdigit() and int(text) > 0 else 1
    found, total = await accounts.list_accounts(current.rt, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
    return current.render(
        "accounts.html", accounts=found, total=total, number=number, pages=max(1, -(-total // PAGE_SIZE))
    )


@page()
async def show_account(current: Page) -> Response:
    account = await accounts.find_account(current.rt, current.request.path_params["id"])
    found, more = await orders.account_orders(current.rt, account.id)
    issued: dict[str, CertificateInfo] = {}
    for order in found:
        if order.certificate_id is not None:
            with contextlib.suppress(NotFound):  # removed from the inventory since
                issued[order.certificate_id] = await certificates.get_certificate(
                    current.rt, order.certificate_id
                )
    now = current.rt.clock.now()
    return current.render(
        "account.html",
        account=account,
        orders=[(order, orders.effective_status(order, now)) for order in found],
        more_orders=more,
        issued=issued,
    )


@page(Role.ADMIN)
async def deactivate_account(current: Page) -> Response:
    account_id = current.request.path_params["id"]
    if current.field("confirm") != "yes":
        return current.redirect("account", {"dialog": "deactivate"}, id=account_id)
    await accounts.deactivate_by_id(current.rt, account_id)
    return current.redirect("account", id=account_id)
