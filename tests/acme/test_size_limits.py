"""Issue 10 part 2, size limits: an order names at most 100 identifiers (the probe's 1,000-name order
made 1,000 authorizations and 3,000 challenges), an account has at most 10 contacts of at most 330
characters. Each refusal is a precise problem and stores nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from acme_server.services.acme.accounts import MAX_CONTACT_LENGTH, MAX_CONTACTS
from acme_server.services.acme.authorizations import MAX_IDENTIFIERS_PER_ORDER
from acme_server.storage.tables import acme_accounts, acme_authorizations, acme_orders
from tests.acme.conftest import AcmeServer

ERR = "urn:ietf:params:acme:error:"


async def _count(acme: AcmeServer, table: object) -> int:
    async with acme.rt.storage.write_engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


async def test_rfc8555_7_4_an_order_of_more_than_100_identifiers_is_malformed(acme: AcmeServer) -> None:
    client = await acme.client()
    await client.register()
    names = [f"n{i}.example.internal" for i in range(MAX_IDENTIFIERS_PER_ORDER + 1)]
    response = await client.new_order(*names)
    assert response.status_code == 400
    assert response.json()["type"] == ERR + "malformed"
    assert f"at most {MAX_IDENTIFIERS_PER_ORDER} identifiers" in response.json()["detail"]
    assert await _count(acme, acme_orders) == 0 and await _count(acme, acme_authorizations) == 0
    accepted = await client.new_order(*names[:MAX_IDENTIFIERS_PER_ORDER])
    assert accepted.status_code == 201
    assert len(accepted.json()["authorizations"]) == MAX_IDENTIFIERS_PER_ORDER


async def test_rfc8555_7_3_more_than_ten_contacts_is_malformed_and_stores_no_account(
    acme: AcmeServer,
) -> None:
    client = await acme.client()
    contacts = [f"mailto:ops{i}@example.internal" for i in range(MAX_CONTACTS + 1)]
    response = await client.register(contact=contacts)
    assert response.status_code == 400 and response.json()["type"] == ERR + "malformed"
    assert await _count(acme, acme_accounts) == 0
    assert (await client.register(contact=contacts[:MAX_CONTACTS])).status_code == 201


async def test_rfc8555_7_3_2_an_overlong_contact_is_invalid_contact_on_update(acme: AcmeServer) -> None:
    client = await acme.client()
    assert (await client.register(contact=["mailto:ops@example.internal"])).status_code == 201
    assert client.kid is not None
    long_contact = "mailto:" + "a" * (MAX_CONTACT_LENGTH - 20) + "@example.internal"
    response = await client.post(client.kid, {"contact": [long_contact]})
    assert response.status_code == 400 and response.json()["type"] == ERR + "invalidContact"
    shown = (await client.post(client.kid)).json()
    assert shown["contact"] == ["mailto:ops@example.internal"]
