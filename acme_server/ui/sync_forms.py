"""The add-a-sync form of each destination type: which configuration keys and secrets it asks for,
as labelled fields. Read by the details page (to render) and ui/syncs.py (to read the submission)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from acme_server.services.delivery import syncs
from acme_server.services.runtime import Runtime


@dataclass(frozen=True)
class SyncField:
    key: str  # the destination's configuration key or secret name
    label: str
    part: str = "config"  # config | secrets
    kind: str = "text"  # text | number | pairs | secret | reload | choice | check | pem
    hint: str = ""
    admin_only: bool = False  # only an admin may set it (the service refuses others: this hides it)
    choices: tuple[str, ...] = ()  # kind "choice": the values offered, the first the default


# destination type -> its form; tests/ui/test_ui_sync_forms.py fails when a destination has none
SYNC_FORMS: dict[str, tuple[SyncField, ...]] = {
    "directory": (
        SyncField("path", "Directory", hint="/etc/nginx/tls"),
        SyncField("reloadCommand", "Reload command (from the server's [reload_commands])", kind="reload",
                  admin_only=True),
        SyncField("reloadTimeout", "Reload timeout (seconds)", kind="number", hint="30", admin_only=True),
    ),
    "aws-acm": (
        SyncField("region", "AWS region", hint="eu-central-1"),
        SyncField("certificateArn", "Certificate ARN to re-import (empty: a new one)"),
        SyncField("tags", "Tags", kind="pairs", hint="key=value, one a line"),
        SyncField("endpointUrl", "Endpoint URL", hint="https://acm.example.internal", admin_only=True),
        SyncField("accessKeyId", "Access key id", "secrets", "secret"),
        SyncField("secretAccessKey", "Secret access key", "secrets", "secret"),
        SyncField("sessionToken", "Session token", "secrets", "secret"),
    ),
    "azure-keyvault": (
        SyncField("vaultUrl", "Vault URL", hint="https://my-vault.vault.azure.net"),
        SyncField("certificateName", "Certificate name (each push: a new version)", hint="web-example-com"),
        SyncField("tenantId", "Tenant (directory) id"),
        SyncField("clientId", "Client (application) id"),
        SyncField("tags", "Tags", kind="pairs", hint="key=value, one a line"),
        SyncField("authorityHost", "Entra ID authority host", hint="https://login.microsoftonline.us",
                  admin_only=True),
        SyncField("clientSecret", "Client secret", "secrets", "secret"),
    ),
    "webhook": (
        SyncField("url", "URL (https://)", hint="https://deploy.example.internal/hooks/certificates"),
        SyncField("body", "Body", kind="choice", choices=("bundle", "metadata")),
        SyncField("caCertificates", "CA certificates to trust the receiver by (PEM; empty: the system's)",
                  kind="pem", hint="-----BEGIN CERTIFICATE-----"),
        SyncField("timeout", "Timeout (seconds)", kind="number", hint="10"),
        SyncField("includeKey", "Also send the private key (bundle body only)", kind="check",
                  admin_only=True),
        SyncField("hmacKey", "HMAC signing key (at least 16 characters)", "secrets", "secret"),
    ),
}  # fmt: skip


def form_name(destination_type: str, field: SyncField) -> str:
    return f"{destination_type}-{field.key}"


def form_context(rt: Runtime) -> dict[str, Any]:
    """What templates/_sync_fields.html needs, for the page that includes it."""
    return {
        "destination_types": sorted(SYNC_FORMS),
        "sync_forms": SYNC_FORMS,
        "sync_form_name": form_name,
        "reload_commands": syncs.reload_command_names(rt),
    }
