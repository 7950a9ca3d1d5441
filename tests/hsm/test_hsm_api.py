"""CAs whose keys are in the server's SoftHSM2 token, created over real HTTP through the REST API: a root
and an intermediate generated in the token, what they sign verified by openssl; and the refusals. The
caller names only the key (an RFC 7512 URI: token, object, type); the module and the PIN are the
server's own (`serve` reads ACME_PKCS11_PIN here), so a URI or body naming a module to load or a PIN
file to read is a problem document, and nothing is stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.hsm.softhsm import TOKEN, Server, SoftToken, acme_json, api_client, chain_verifies
from tests.hsm.test_hsm_server import free_ports
from tests.tools import openssl, write

CM = "/api/v1/cert-manager"


class World:
    def __init__(self, token: SoftToken, server: Server, admin: str, operator: str) -> None:
        self.token, self.server = token, server
        self.admin, self.operator = api_client(server, admin), api_client(server, operator)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("hsm-api")
    token = SoftToken(directory / "softhsm")
    env, data = token.with_pin(), directory / "data"
    admin = acme_json(env, data, "token", "create", "--role", "admin", "--name", "admin")["token"]
    operator = acme_json(env, data, "token", "create", "--role", "operator", "--name", "ops")["token"]
    port, status_port = free_ports(2)
    server = Server(env, data, port, status_port)
    try:
        yield World(token, server, admin, operator)
    finally:
        server.stop()


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    document: dict[str, Any] = response.json()
    return document


def ca_names(world: World) -> set[str]:
    return {ca["name"] for ca in world.admin.get(f"{CM}/cas").json()["cas"]}


def test_a_root_and_an_intermediate_are_created_in_the_token_and_sign(world: World, tmp_path: Path) -> None:
    root = world.admin.post(
        f"{CM}/cas",
        json={"type": "root", "name": "api-hsm-root", "pkcs11Uri": f"pkcs11:token={TOKEN};object=api-root"},
    )
    assert root.status_code == 201, root.text
    assert root.json()["keyUri"].startswith(f"pkcs11:token={TOKEN};object=api-root;id=%")
    assert root.json()["keyUri"].endswith(";type=private")
    inter = world.admin.post(
        f"{CM}/cas",
        json={
            "type": "intermediate",
            "name": "api-hsm-issuing",
            "parent": "api-hsm-root",
            "keyAlgorithm": "RSA_2048",
            "pkcs11Uri": f"pkcs11:token={TOKEN};object=api-issuing;type=private",
        },
    )
    assert inter.status_code == 201, inter.text
    assert inter.json()["keyAlgorithm"] == "RSA_2048"
    # The token holds both private keys (sensitive, not extractable), under the labels the URIs gave.
    keys = world.token.private_keys()
    assert keys["api-root"] == keys["api-issuing"] == (True, False)
    root_pem = write(tmp_path / "root.pem", root.json()["certificate"])
    inter_pem = write(tmp_path / "inter.pem", inter.json()["certificate"])
    assert openssl("verify", "-CAfile", root_pem, root_pem).stdout.strip().endswith(": OK")
    assert openssl("verify", "-CAfile", root_pem, inter_pem).stdout.strip().endswith(": OK")

    # A leaf from a profile on the intermediate: signed in the token, verified to the token root.
    profile = world.admin.post(
        f"{CM}/certificate-profiles", json={"name": "hsm-web", "caId": inter.json()["id"]}
    )
    assert profile.status_code == 201, profile.text
    created = world.operator.post(
        f"{CM}/certificate-requests",
        json={
            "profile": "hsm-web",
            "managed": {"commonName": "web.hsm.internal", "altNames": ["web.hsm.internal"]},
        },
    )
    assert created.status_code == 201, created.text
    leaf = world.operator.get(f"{CM}/certificates/{created.json()['certificateId']}/export").json()
    leaf_pem = write(tmp_path / "leaf.pem", leaf["certificate"])
    assert chain_verifies(root_pem, inter_pem, leaf_pem)
    # The intermediate's CRL from the status listener, signed by its key in the token.
    crl = httpx.get(f"{world.server.status_url}/crl/{inter.json()['id']}.crl")
    assert crl.status_code == 200
    crl_pem = write(
        tmp_path / "crl.pem", x509.load_der_x509_crl(crl.content).public_bytes(serialization.Encoding.PEM)
    )
    checked = openssl("crl", "-in", crl_pem, "-CAfile", inter_pem, "-noout")
    assert "verify OK" in checked.stdout + checked.stderr


@pytest.mark.parametrize(
    ("uri", "detail"),
    [
        (
            f"pkcs11:token={TOKEN};object=evil;module-path=/tmp/evil.so",
            "pkcs11 URI: the PKCS#11 module comes from --pkcs11-module, not from the URI",
        ),
        (
            f"pkcs11:token={TOKEN};object=evil?module-name=evil",
            "pkcs11 URI: the PKCS#11 module comes from --pkcs11-module, not from the URI",
        ),
        (
            f"pkcs11:token={TOKEN};object=evil?pin-source=file:/etc/shadow",
            "pkcs11 URI: the PIN comes from --pkcs11-pin-file or ACME_PKCS11_PIN, not from the URI",
        ),
        (
            f"pkcs11:token={TOKEN};object=evil?pin-value=1234",
            "pkcs11 URI: a PIN never goes into the URI (it is stored with the CA); use --pkcs11-pin-file "
            "or ACME_PKCS11_PIN",
        ),
        (
            "file:/etc/shadow",
            "pkcs11 URI: must start with 'pkcs11:' (RFC 7512), e.g. pkcs11:token=ca;object=root",
        ),
    ],
)
def test_a_uri_naming_a_module_or_a_pin_source_is_an_invalid_field(
    world: World, uri: str, detail: str
) -> None:
    response = world.admin.post(f"{CM}/cas", json={"type": "root", "name": "evil-root", "pkcs11Uri": uri})
    document = problem(response, 400)
    assert document["type"] == "urn:acme-server:problem:invalid-field"
    assert document["field"] == "pkcs11Uri"
    assert document["detail"] == detail
    assert "evil-root" not in ca_names(world)


@pytest.mark.parametrize("field", ["modulePath", "pkcs11Module", "pinSource", "pkcs11PinFile"])
def test_a_body_naming_a_module_or_a_pin_file_is_refused(world: World, field: str) -> None:
    body = {
        "type": "root",
        "name": "evil-root",
        "pkcs11Uri": f"pkcs11:token={TOKEN};object=evil",
        field: "/tmp/x",
    }
    document = problem(world.admin.post(f"{CM}/cas", json=body), 400)
    assert document["field"] == field
    assert document["detail"].startswith(f"{field}: unknown field; expected one of ")
    assert "evil-root" not in ca_names(world)


def test_an_operator_token_may_not_create_a_token_ca(world: World) -> None:
    body = {"type": "root", "name": "ops-root", "pkcs11Uri": f"pkcs11:token={TOKEN};object=ops-root"}
    document = problem(world.operator.post(f"{CM}/cas", json=body), 403)
    assert document["type"] == "urn:acme-server:problem:forbidden"
    assert "ops-root" not in ca_names(world)


def test_a_wrong_token_label_is_a_clear_invalid_field(world: World) -> None:
    body = {"type": "root", "name": "nope-root", "pkcs11Uri": "pkcs11:token=nope;object=root"}
    document = problem(world.admin.post(f"{CM}/cas", json=body), 400)
    assert document["field"] == "pkcs11Uri"
    assert document["detail"].startswith("no PKCS#11 token labelled 'nope' in ")
    assert "nope-root" not in ca_names(world)


def test_a_key_type_the_token_cannot_generate_is_an_invalid_field(world: World) -> None:
    body = {
        "type": "root",
        "name": "ed-root",
        "keyAlgorithm": "ED25519",
        "pkcs11Uri": f"pkcs11:token={TOKEN};object=ed-root",
    }
    document = problem(world.admin.post(f"{CM}/cas", json=body), 400)
    assert document["field"] == "pkcs11Uri"
    assert document["detail"].startswith("ED25519 keys cannot be generated in a token here")


def test_a_server_without_a_pin_answers_409_naming_its_configuration(tmp_path: Path) -> None:
    token = SoftToken(tmp_path / "softhsm")
    data = tmp_path / "data"
    admin = acme_json(token.env, data, "token", "create", "--role", "admin", "--name", "admin")["token"]
    port, status_port = free_ports(2)
    server = Server(token.env, data, port, status_port)  # no ACME_PKCS11_PIN, no --pkcs11-pin-file
    try:
        body = {"type": "root", "name": "r", "pkcs11Uri": f"pkcs11:token={TOKEN};object=r"}
        document = problem(api_client(server, admin).post(f"{CM}/cas", json=body), 409)
        assert document["type"] == "urn:acme-server:problem:hsm-not-configured"
        assert document["detail"] == (
            "a CA key is in a PKCS#11 token: give --pkcs11-pin-file FILE or set ACME_PKCS11_PIN"
        )
    finally:
        server.stop()


def test_a_server_with_a_wrong_pin_answers_409_naming_the_cause(tmp_path: Path) -> None:
    token = SoftToken(tmp_path / "softhsm")
    data = tmp_path / "data"
    admin = acme_json(token.env, data, "token", "create", "--role", "admin", "--name", "admin")["token"]
    port, status_port = free_ports(2)
    server = Server(token.with_pin("999999"), data, port, status_port)  # not the token's PIN
    try:
        client = api_client(server, admin)
        body = {"type": "root", "name": "r", "pkcs11Uri": f"pkcs11:token={TOKEN};object=r"}
        document = problem(client.post(f"{CM}/cas", json=body), 409)
        assert document["type"] == "urn:acme-server:problem:hsm-unavailable"
        assert document["detail"] == (
            f"token {TOKEN!r}: the PIN is wrong (from --pkcs11-pin-file or ACME_PKCS11_PIN)"
        )
        assert "999999" not in client.post(f"{CM}/cas", json=body).text
        assert "r" not in {ca["name"] for ca in client.get(f"{CM}/cas").json()["cas"]}
    finally:
        server.stop()
