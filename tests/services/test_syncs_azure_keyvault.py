"""The azure-keyvault destination (acme_server/destinations/azure_keyvault.py): the official SDK
(azure-keyvault-certificates, azure-identity's ClientSecretCredential) unchanged against a loopback
HTTPS stand-in of Entra ID and Key Vault (tests/services/keyvault_standin.py; no emulator exists
offline), on SQLite and PostgreSQL: the PKCS#12 carries the key, a renewal is a second version of the
same certificate name, refusals are recorded, and what only an admin may set."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from acme_server.errors import Forbidden
from acme_server.services import issuance
from acme_server.services.access.tokens import Role
from acme_server.services.delivery import syncs
from acme_server.services.renewal.now import renew_certificate
from acme_server.services.runtime import Runtime
from acme_server.storage import Storage
from ca_core.errors import InvalidSetting
from ca_core.export import load_certificates_pem
from ca_core.keys import KeyAlgorithm
from tests.services.keyvault_standin import KeyVaultStandIn
from tests.services.receivers import Receiver, https_server, server_tls
from tests.services.test_certificates import _csr_pem
from tests.services.test_syncs import issue, root_pem
from tests.tools import write

TENANT = "00000000-0000-0000-0000-00000000beef"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
CLIENT_SECRET = "azure-client-secret-value-0123"
IN_AZURE = {  # a vault in Azure's public cloud, signing in at Entra ID's default authority
    "vaultUrl": "https://contoso.vault.azure.net",
    "certificateName": "contoso",
    "tenantId": TENANT,
    "clientId": CLIENT_ID,
}


@pytest.fixture
async def tls(dev: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """The stand-in's certificate comes from the dev CA; the SDK (requests) trusts the dev root the
    way an operator points it at a private CA: REQUESTS_CA_BUNDLE."""
    context = await server_tls(dev, tmp_path / "keyvault-tls")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(write(tmp_path / "dev-root.pem", await root_pem(dev))))
    return context


@pytest.fixture
def vault(tls: ssl.SSLContext) -> Iterator[tuple[KeyVaultStandIn, Receiver]]:
    standin = KeyVaultStandIn(TENANT, CLIENT_ID, CLIENT_SECRET)
    with https_server(tls, standin) as receiver:
        standin.base = receiver.url
        yield standin, receiver


def config(receiver: Receiver, **extra: Any) -> dict[str, Any]:
    return {
        "vaultUrl": receiver.url,
        "authorityHost": receiver.url,
        "certificateName": "web-example-internal",
        "tenantId": TENANT,
        "clientId": CLIENT_ID,
        **extra,
    }


async def test_the_sdk_imports_the_pkcs12_with_its_key_and_a_renewal_is_a_new_version(
    dev: Runtime, vault: tuple[KeyVaultStandIn, Receiver], storage: Storage
) -> None:
    standin, receiver = vault
    cert = await issue(dev, "web.example.internal", algorithm=KeyAlgorithm.RSA_2048)
    sync = await syncs.create_sync(
        dev,
        name="kv-web",
        destination_type="azure-keyvault",
        config=config(receiver, tags={"team": "web"}),
        secrets={"clientSecret": CLIENT_SECRET},
        certificate=cert.id,
    )
    assert sync.last_status == "ok", sync.last_error
    [first] = standin.certificates["web-example-internal"]
    assert first.has_key and first.key_matches and first.tags == {"team": "web"}
    assert first.certificate.public_bytes(Encoding.PEM).decode() == cert.certificate_pem
    assert first.chain == load_certificates_pem(cert.chain_pem.encode())
    assert sync.destination_state == {
        "certificateName": "web-example-internal",
        "version": first.version,
        "serial": cert.serial,
    }
    # the client-credentials grant for Key Vault's scope, with the secret given to the sync
    assert standin.token_requests[0]["grant_type"] == ["client_credentials"]
    assert standin.token_requests[0]["scope"] == ["https://vault.azure.net/.default"]

    successor = await renew_certificate(dev, cert.id, actor="test")  # pushed from the queue
    versions = standin.certificates["web-example-internal"]
    assert [v.certificate.serial_number for v in versions] == [
        int(cert.serial, 16),
        int(successor.serial, 16),
    ]
    assert versions[1].has_key and versions[1].key_matches and versions[0].version != versions[1].version
    after = await syncs.get_sync(dev, "kv-web")
    assert after.last_status == "ok" and after.destination_state["version"] == versions[1].version
    assert list(standin.certificates) == ["web-example-internal"]  # one name, two versions

    async with storage.read() as tx:
        record = await tx.syncs.get(sync.id)
    assert record is not None and record.sealed_secrets is not None
    assert CLIENT_SECRET.encode() not in record.sealed_secrets and CLIENT_SECRET not in repr(after)


async def test_refusals_are_recorded_without_the_secret(
    dev: Runtime, vault: tuple[KeyVaultStandIn, Receiver]
) -> None:
    standin, receiver = vault
    cert = await issue(dev, "refused.example.internal")
    wrong = await syncs.create_sync(
        dev,
        name="kv-wrong-secret",
        destination_type="azure-keyvault",
        config=config(receiver),
        secrets={"clientSecret": "not-the-secret-0123456"},
        certificate=cert.id,
    )
    assert wrong.last_status == "failed" and wrong.last_error is not None
    assert wrong.last_error.startswith("Key Vault sign-in refused:")
    assert "not-the-secret" not in wrong.last_error
    from_csr = await issuance.issue_certificate(
        dev, profile="default", csr_pem=_csr_pem("csr.example.internal")
    )
    keyless = await syncs.create_sync(
        dev,
        name="kv-csr",
        destination_type="azure-keyvault",
        config=config(receiver),
        secrets={"clientSecret": CLIENT_SECRET},
        certificate=from_csr.id,
    )
    assert keyless.last_error is not None and "Key Vault needs its private key" in keyless.last_error
    assert standin.certificates == {}


async def test_only_an_admin_may_point_the_sdk_elsewhere(dev: Runtime) -> None:
    cert = await issue(dev, "admin.example.internal")
    for extra, reason in (
        ({"authorityHost": "https://login.example.internal"}, "authorityHost"),
        ({"vaultUrl": "https://vault.example.internal"}, "vaultUrl outside Azure's Key Vault domains"),
    ):
        with pytest.raises(Forbidden, match=reason):
            await syncs.create_sync(
                dev,
                name="kv-op",
                destination_type="azure-keyvault",
                config=IN_AZURE | extra,
                secrets={"clientSecret": CLIENT_SECRET},
                certificate=cert.id,
                role=Role.OPERATOR,
                push=False,
            )
    created = await syncs.create_sync(
        dev,
        name="kv-op",
        destination_type="azure-keyvault",
        config=IN_AZURE,
        secrets={"clientSecret": CLIENT_SECRET},
        certificate=cert.id,
        role=Role.OPERATOR,
        push=False,
    )
    assert created.has_secrets and created.last_status == "never"


@pytest.mark.parametrize(
    ("change", "secrets", "field"),
    [
        ({"vaultUrl": "http://contoso.vault.azure.net"}, {"clientSecret": "s"}, "config.vaultUrl"),
        ({"certificateName": "web.example"}, {"clientSecret": "s"}, "config.certificateName"),
        ({"tenantId": None}, {"clientSecret": "s"}, "config.tenantId"),
        ({"tenantId": "../common?x="}, {"clientSecret": "s"}, "config.tenantId"),
        ({"clientId": ""}, {"clientSecret": "s"}, "config.clientId"),
        ({"region": "westeurope"}, {"clientSecret": "s"}, "config.region"),
        ({}, {}, "secrets.clientSecret"),
        ({}, {"clientSecret": "s", "password": "p"}, "secrets.password"),
        ({"tags": ["a"]}, {"clientSecret": "s"}, "config.tags"),
    ],
)
async def test_invalid_keyvault_syncs_are_refused_naming_the_field(
    dev: Runtime, change: dict[str, Any], secrets: dict[str, str], field: str
) -> None:
    cert = await issue(dev, "invalid.example.internal")
    settings = {k: v for k, v in (IN_AZURE | change).items() if v is not None}
    with pytest.raises(InvalidSetting) as refused:
        await syncs.create_sync(
            dev,
            name="bad",
            destination_type="azure-keyvault",
            config=settings,
            secrets=secrets,
            certificate=cert.id,
        )
    assert refused.value.field == field
