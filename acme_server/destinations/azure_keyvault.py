"""The `azure-keyvault` destination: Azure Key Vault certificates through the official SDK
(azure-keyvault-certificates, azure-identity's client-secret credential). Every push imports the
certificate with its key as PKCS#12 under the same certificate name, so each renewal is a new
version of that name and App Service, Application Gateway or Front Door pick it up. The SDK is
imported only here and only when used (`pip install 'acme-server[azure]'`)."""

from __future__ import annotations

import asyncio
import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Final
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.serialization import NoEncryption, pkcs12

from acme_server.destinations.base import (
    Bundle,
    DestinationError,
    DestinationHost,
    PushResult,
    read_secrets,
    read_tags,
)
from ca_core.documents import read_object, read_string
from ca_core.errors import InvalidSetting
from ca_core.export import load_certificates_pem
from ca_core.keys import load_private_key

_KEYS: Final = ("vaultUrl", "certificateName", "tenantId", "clientId", "authorityHost", "tags")
_SECRETS: Final = ("clientSecret",)
# Key Vault's DNS suffixes in Azure's public and sovereign clouds; another vault URL needs an admin.
VAULT_SUFFIXES: Final = (
    ".vault.azure.net",
    ".vault.azure.cn",
    ".vault.usgovcloudapi.net",
    ".vault.microsoftazure.de",
)
_CERTIFICATE_NAME: Final = re.compile(r"[0-9A-Za-z-]{1,127}")  # Key Vault's object name rule
_DIRECTORY_ID: Final = re.compile(r"[0-9A-Za-z.-]{1,128}")  # a tenant (GUID or domain) or client id
_TIMEOUT: Final = 30  # seconds, for connecting and for each read


def _sdk() -> tuple[ModuleType, ModuleType, ModuleType]:
    try:
        return (
            importlib.import_module("azure.identity"),
            importlib.import_module("azure.keyvault.certificates"),
            importlib.import_module("azure.core.exceptions"),
        )
    except ImportError:
        raise InvalidSetting(
            "destinationType",
            "azure-keyvault needs the Azure SDK; install it with: pip install 'acme-server[azure]'",
        ) from None


def is_azure_vault(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return any(host.endswith(suffix) for suffix in VAULT_SUFFIXES)


def pkcs12_of(bundle: Bundle) -> bytes:
    """The certificate, its chain and its key as one unencrypted PKCS#12 (sent over TLS only)."""
    if bundle.private_key_pem is None:
        raise DestinationError(
            f"certificate {bundle.serial} was issued from a CSR; Key Vault needs its private key, which"
            " the server does not hold"
        )
    certificate = load_certificates_pem(bundle.certificate_pem.encode())[0]
    chain = load_certificates_pem(bundle.chain_pem.encode()) if bundle.chain_pem.strip() else []
    key = load_private_key(bundle.private_key_pem.encode())
    return pkcs12.serialize_key_and_certificates(None, key, certificate, chain, NoEncryption())


@dataclass(frozen=True)
class AzureKeyVaultTarget:
    vault_url: str
    certificate_name: str
    tenant_id: str
    client_id: str
    authority_host: str | None  # another Entra ID endpoint (a sovereign cloud, a stand-in)
    tags: tuple[tuple[str, str], ...]
    client_secret: str

    async def push(self, bundle: Bundle, state: Mapping[str, Any]) -> PushResult:
        return await asyncio.to_thread(self._import, pkcs12_of(bundle), bundle.serial)

    def _import(self, pfx: bytes, serial: str) -> PushResult:
        identity, certificates, exceptions = _sdk()
        options: dict[str, Any] = {"connection_timeout": _TIMEOUT, "read_timeout": _TIMEOUT}
        credential_options = dict(options)
        if self.authority_host is not None:
            credential_options |= {"authority": self.authority_host, "disable_instance_discovery": True}
        credential = identity.ClientSecretCredential(
            self.tenant_id, self.client_id, self.client_secret, **credential_options
        )
        # The SDK checks that the vault's challenge names a resource the vault URL lies under; a vault
        # outside Azure's Key Vault domains (an admin's choice) cannot pass that check.
        client = certificates.CertificateClient(
            self.vault_url, credential, verify_challenge_resource=is_azure_vault(self.vault_url), **options
        )
        try:
            with client, credential:
                imported = client.import_certificate(
                    self.certificate_name, pfx, enabled=True, tags=dict(self.tags) or None
                )
        except identity.CredentialUnavailableError:
            raise DestinationError("Key Vault import failed: no credential could sign in") from None
        except exceptions.ClientAuthenticationError as exc:  # Entra ID refused the client id or secret
            raise DestinationError(f"Key Vault sign-in refused: {_first_line(exc.message)}") from None
        except exceptions.HttpResponseError as exc:
            code = exc.error.code if exc.error is not None else exc.status_code
            raise DestinationError(
                f"Key Vault refused the import: {code}: {_first_line(exc.message)}"
            ) from None
        except exceptions.AzureError as exc:
            raise DestinationError(f"Key Vault import failed: {type(exc).__name__}") from None
        except ValueError as exc:  # the SDK's own checks of its arguments (a tenant id, a URL)
            raise DestinationError(f"Key Vault import failed: {_first_line(exc)}") from None
        version = str(imported.properties.version)
        return PushResult(
            f"imported as {self.certificate_name} version {version} in {self.vault_url}",
            {"certificateName": self.certificate_name, "version": version, "serial": serial},
        )


def _first_line(message: object) -> str:
    """An SDK error's first line: the later ones repeat the request (never the secret, but long)."""
    return str(message).strip().splitlines()[0][:300] if str(message).strip() else "no detail"


def _directory_id(value: object, path: str) -> str:
    text = read_string(value, path)
    if not _DIRECTORY_ID.fullmatch(text):
        raise InvalidSetting(path, "must be an Entra ID GUID or domain (letters, digits, '.', '-')")
    return text


def _https_url(value: object, path: str) -> str:
    url = read_string(value, path).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        raise InvalidSetting(path, "must be an https:// URL without a user name or password")
    return url


def _client_secret(secrets: Mapping[str, str]) -> str:
    if "clientSecret" not in read_secrets(secrets, _SECRETS):
        raise InvalidSetting("secrets.clientSecret", "is required: the app registration's client secret")
    return secrets["clientSecret"]


class AzureKeyVaultDestination:
    type_name = "azure-keyvault"
    secret_names: tuple[str, ...] = _SECRETS

    def admin_reason(self, config: Mapping[str, Any], host: DestinationHost) -> str | None:
        # Another endpoint than Azure's makes the server connect (and hand over a private key and a
        # client secret) wherever the caller says.
        if config.get("authorityHost") is not None:
            return "only an admin may set config.authorityHost of an azure-keyvault sync"
        vault = config.get("vaultUrl")
        if isinstance(vault, str) and not is_azure_vault(vault):
            return "only an admin may name a vaultUrl outside Azure's Key Vault domains"
        return None

    def configure(
        self, config: Mapping[str, Any], secrets: Mapping[str, str], host: DestinationHost
    ) -> AzureKeyVaultTarget:
        _sdk()
        settings = read_object(config, "config", _KEYS, root="config")
        for key, example in (
            ("vaultUrl", "https://my-vault.vault.azure.net"),
            ("certificateName", "web-example-com"),
            ("tenantId", "the directory (tenant) id"),
            ("clientId", "the app registration's client id"),
        ):
            if key not in settings:
                raise InvalidSetting(f"config.{key}", f"is required ({example})")
        name = read_string(settings["certificateName"], "config.certificateName")
        if not _CERTIFICATE_NAME.fullmatch(name):
            raise InvalidSetting("config.certificateName", "use 1-127 letters, digits and '-'")
        authority = settings.get("authorityHost")
        return AzureKeyVaultTarget(
            vault_url=_https_url(settings["vaultUrl"], "config.vaultUrl"),
            certificate_name=name,
            tenant_id=_directory_id(settings["tenantId"], "config.tenantId"),
            client_id=_directory_id(settings["clientId"], "config.clientId"),
            authority_host=None if authority is None else _https_url(authority, "config.authorityHost"),
            tags=read_tags(settings.get("tags", {})),
            client_secret=_client_secret(secrets),
        )
