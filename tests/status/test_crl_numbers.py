"""The CRL number only grows (RFC 5280 §5.2.3), across restarts of `acme-server serve` and across
processes that publish on one database (the server's updater, a revocation, the CLI, two replicas
generating at once)."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from acme_server.cli import main
from ca_core.jose import b64encode
from tests.acme.client import Client, csr_der
from tests.replicas import poll_valid, ready_orders, two_replicas
from tests.test_serve import Server

CA = "dev-intermediate"  # issues the default profile's certificates
REVOCATIONS = 8  # sent to the two replicas at once, alternately


def crl_number(server: Server, ca: str) -> int:
    response = httpx.get(f"{server.status_url}/crl/{ca}.crl", timeout=30)
    assert response.status_code == 200
    crl = x509.load_der_x509_crl(response.content)
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def test_crl_numbers_grow_across_restarts_and_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    first = Server(data_dir)
    try:
        before = crl_number(first, "dev-intermediate")
    finally:
        first.stop()
    assert (
        main(["ca", "crl", "dev-intermediate", "--data-dir", str(data_dir), "--out", str(tmp_path / "c.pem")])
        == 0
    )
    published = int(capsys.readouterr().out.split("number: ")[1].split()[0])
    assert published > before
    second = Server(data_dir)
    try:
        # The restarted server serves the newest CRL and never hands out a number twice.
        assert crl_number(second, "dev-intermediate") == published
        assert (
            main(
                [
                    "ca",
                    "crl",
                    "dev-intermediate",
                    "--data-dir",
                    str(data_dir),
                    "--out",
                    str(tmp_path / "d.pem"),
                ]
            )
            == 0
        )
        assert crl_number(second, "dev-intermediate") == published + 1
    finally:
        second.stop()


@pytest.mark.postgres
async def test_crls_generated_by_two_replicas_at_once_never_repeat_a_number(
    tmp_path: Path, _postgres_server: str
) -> None:
    """Every revocation publishes a CRL (services/inventory/edits.py): revocations sent to both
    replicas
    at once make both generate concurrently. Numbers come from one UPDATE ... RETURNING on the CA row,
    so none repeats; what each replica serves only grows; and the newest CRL, on either replica, lists
    every revocation."""
    async with two_replicas(tmp_path, _postgres_server) as replicas:
        trust = ssl.create_default_context(cafile=str(replicas.target.trust_bundle))
        async with httpx.AsyncClient(verify=trust, timeout=60) as http:
            client = await Client(http, replicas.target.directory_url).load()
            assert (await client.register()).status_code == 201
            names = [f"crl-{i}.replicas.example.com" for i in range(REVOCATIONS)]
            ders = []
            for order, name in zip(await ready_orders(replicas, client, names), names, strict=True):
                await client.post(order["finalize"], {"csr": b64encode(csr_der(name))})
                valid = await poll_valid(client, order["url"])
                chain = (await client.post(valid["certificate"])).content
                ders.append(x509.load_pem_x509_certificates(chain)[0].public_bytes(Encoding.DER))
            served: list[list[int]] = [[], []]
            done = asyncio.Event()

            async def watch(replica: int) -> None:
                while not done.is_set():
                    response = await http.get(f"{replicas.status_urls[replica]}/crl/{CA}.crl")
                    crl = x509.load_der_x509_crl(response.content)
                    served[replica].append(
                        crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
                    )
                    await asyncio.sleep(0.02)

            watchers = [asyncio.create_task(watch(replica)) for replica in (0, 1)]
            nonces = [await client.nonce() for _ in ders]
            revoked = await asyncio.gather(
                *(
                    client.post(
                        replicas.direct(client.directory["revokeCert"], index % 2),
                        {"certificate": b64encode(der)},
                        nonce=nonce,
                        header_url=client.directory["revokeCert"],
                    )
                    for index, (der, nonce) in enumerate(zip(ders, nonces, strict=True))
                )
            )
            assert [r.status_code for r in revoked] == [200] * REVOCATIONS, [r.text for r in revoked]
            await asyncio.sleep(0.2)
            done.set()
            await asyncio.gather(*watchers)
            newest = []
            for status_url in replicas.status_urls:
                crl = x509.load_der_x509_crl((await http.get(f"{status_url}/crl/{CA}.crl")).content)
                newest.append(crl)
        numbers = [
            row[0]
            for row in await replicas.rows(
                "SELECT c.number FROM crls c JOIN cas a ON a.id = c.ca_id WHERE a.name = :name ORDER BY 1",
                name=CA,
            )
        ]
    assert len(numbers) == len(set(numbers)) and len(numbers) >= REVOCATIONS  # one per revocation at least
    for sequence in served:
        assert sequence and sequence == sorted(sequence)  # what a replica serves never goes back
    serials = {x509.load_der_x509_certificate(der).serial_number for der in ders}
    for crl in newest:
        assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == max(numbers)
        assert serials <= {entry.serial_number for entry in crl}
