"""The database work of every other ACME endpoint (issue 11 item 7), counted as in test_round_trips.py:
transactions, statements and used nonces of the request's own task. Pinned: a number going up is a
design change to justify."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca_core.jose import b64encode
from ca_core.keys import KeyAlgorithm, generate_key
from tests.acme.client import csr_der
from tests.acme.conftest import AcmeServer, wait_status
from tests.acme.test_issuance_flow import _ready_order
from tests.acme.test_round_trips import Work, counted


async def test_s7_3_new_account_round_trips(acme: AcmeServer) -> None:
    client = await acme.client()
    with counted(acme) as created:
        assert (await client.register()).status_code == 201
    with counted(acme) as existing:
        assert (
            await client.post(client.directory["newAccount"], {"onlyReturnExisting": True}, use_jwk=True)
        ).status_code == 200
    # look the key up, then insert; an existing key is only looked up
    # a created account counts against new_accounts_per_ip (one counter statement); a found one does not
    assert (created, existing) == (Work(2, 2, 1, 1), Work(1, 1, 1)), (created.log, existing.log)


async def test_s7_3_2_and_7_3_6_account_update_and_deactivation_round_trips(acme: AcmeServer) -> None:
    client = await acme.client()
    await client.register()
    assert client.kid is not None
    with counted(acme) as updated:
        assert (
            await client.post(client.kid, {"contact": ["mailto:new@example.internal"]})
        ).status_code == 200
    with counted(acme) as deactivated:
        assert (await client.post(client.kid, {"status": "deactivated"})).status_code == 200
    # both are account changes an admin sees: each audit row is written in the change's transaction
    assert (updated, deactivated) == (Work(2, 3, 1), Work(2, 4, 1)), (updated.log, deactivated.log)


async def test_s7_3_5_key_change_round_trips(acme: AcmeServer) -> None:
    client = await acme.client()
    await client.register()
    new_key = generate_key(KeyAlgorithm.EC_prime256v1)
    with counted(acme) as work:
        assert (
            await client.post(client.directory["keyChange"], client.key_change(new_key))
        ).status_code == 200
    assert work == Work(2, 5, 1), work.log  # with its audit row, in the same transaction


async def test_s7_1_2_1_orders_list_and_s7_5_2_deactivation_round_trips(acme: AcmeServer) -> None:
    client, order = await _ready_order(acme, "listed.example.internal")
    assert client.kid is not None
    account = (await client.post(client.kid)).json()
    with counted(acme) as listed:
        assert (await client.post(account["orders"])).status_code == 200
    with counted(acme) as deactivated:
        response = await client.post(str(order["authorizations"][0]), {"status": "deactivated"})
        assert response.status_code == 200
    assert (listed, deactivated) == (Work(2, 2, 1), Work(2, 6, 1)), (listed.log, deactivated.log)


async def test_s7_5_1_challenge_response_round_trips(acme: AcmeServer) -> None:
    client = await acme.client()
    await client.register()
    acme.resolve("answer.example.internal")
    order = (await client.new_order("answer.example.internal")).json()
    authz = (await client.post(order["authorizations"][0])).json()
    challenge = next(c for c in authz["challenges"] if c["type"] == "http-01")
    acme.serve_http01(client, challenge["token"])
    with counted(acme) as work:
        assert (await client.post(challenge["url"], {})).json()["status"] == "valid"
    # queue it (read, mark, read back); after the validation worker recorded it, read it once more
    assert work == Work(3, 5, 1), work.log


async def test_s7_6_revocation_round_trips(acme: AcmeServer) -> None:
    client, order = await _ready_order(acme, "revoked.example.internal")
    await client.post(order["finalize"], {"csr": b64encode(csr_der("revoked.example.internal"))})
    done = await wait_status(client, order["url"], {"valid"})
    pem = (await client.post(str(done["certificate"]))).text
    der = x509.load_pem_x509_certificates(pem.encode())[0].public_bytes(Encoding.DER)
    with counted(acme) as work:
        response = await client.post(client.directory["revokeCert"], {"certificate": b64encode(der)})
        assert response.status_code == 200
    # the account; the certificate found by its DER (with the CA and metadata); revoked and recorded in
    # one write with its audit row; then read back for the CRL (the certificate and CA again: a
    # candidate to slim down)
    assert work == Work(6, 14, 1), work.log
