"""`acme-server sync ...`: push certificates to destinations (a directory for nginx/Apache, AWS
Certificate Manager, Azure Key Vault, a webhook). Secrets come from a JSON file or standard input,
never from the command line, and no command prints them."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from acme_server.cli.common import emit, emit_table, leaf, read_input, read_json_object
from acme_server.services.delivery import pushes, syncs
from acme_server.services.delivery.records import SyncInfo
from acme_server.services.runtime import Runtime
from acme_server.statuses import SyncStatus

# flag attribute -> the destination config key it sets (over --destination-config)
_CONFIG_FLAGS = {
    "path": "path",
    "reload_command": "reloadCommand",
    "reload_timeout": "reloadTimeout",
    "region": "region",
    "endpoint_url": "endpointUrl",
    "certificate_arn": "certificateArn",
    "vault_url": "vaultUrl",
    "certificate_name": "certificateName",
    "tenant_id": "tenantId",
    "client_id": "clientId",
    "authority_host": "authorityHost",
    "url": "url",
    "body": "body",
    "include_key": "includeKey",
    "timeout": "timeout",
}


def _view(sync: SyncInfo) -> dict[str, Any]:
    target = f"certificate:{sync.certificate_id}" if sync.certificate_id else f"profile:{sync.profile_id}"
    return {**sync.to_document(), "target": target}


def _config(args: argparse.Namespace) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if args.destination_config:
        config = read_json_object(args.destination_config, what="destination config")
    for attribute, key in _CONFIG_FLAGS.items():
        value = getattr(args, attribute)
        if value is not None:
            config[key] = value
    if args.ca_certificates:  # the local shell's own file: the server never reads a path from the API
        config["caCertificates"] = read_input(args.ca_certificates, what="CA certificates").decode(
            errors="replace"
        )
    return config


async def create(rt: Runtime, args: argparse.Namespace) -> int:
    secrets = read_json_object(args.secrets_file, what="secrets file") if args.secrets_file else None
    sync = await syncs.create_sync(
        rt,
        name=args.name,
        destination_type=args.type,
        config=_config(args),
        secrets=secrets,
        certificate=args.certificate,
        profile=args.profile,
        push=not args.no_push,
    )
    emit(args, _view(sync))
    return _exit_code(sync)


def _exit_code(sync: SyncInfo) -> int:
    if sync.last_status == SyncStatus.FAILED:
        print(f"error: sync {sync.name}: {sync.last_error}", file=sys.stderr)
        return 1
    return 0


async def list_all(rt: Runtime, args: argparse.Namespace) -> int:
    rows = [_view(s) for s in await syncs.list_syncs(rt, certificate=args.certificate, profile=args.profile)]
    emit_table(args, rows, ["name", "destinationType", "target", "lastStatus", "lastRunAt", "lastError"])
    return 0


async def show(rt: Runtime, args: argparse.Namespace) -> int:
    emit(args, _view(await syncs.get_sync(rt, args.sync)))
    return 0


async def run(rt: Runtime, args: argparse.Namespace) -> int:
    sync = await pushes.run_sync(rt, args.sync)
    emit(args, _view(sync))
    return _exit_code(sync)


async def delete(rt: Runtime, args: argparse.Namespace) -> int:
    await syncs.delete_sync(rt, args.sync)
    print(f"deleted sync {args.sync}")
    return 0


def _add_create(group: Any) -> None:
    p = leaf(group, "create", create, "bind a certificate or a profile's latest certificate to a destination")
    p.add_argument("name", metavar="NAME", help="a name for the sync (letters, digits, '.', '-', '_')")
    p.add_argument("--type", required=True, choices=syncs.destination_types(), help="destination type")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--certificate", help="certificate id (its renewals follow automatically)")
    target.add_argument("--profile", help="profile (id or name): push its newest active certificate")
    p.add_argument(
        "--destination-config", metavar="FILE", help="destination config as a JSON object ('-': stdin)"
    )
    p.add_argument("--path", help="directory: where cert.pem, chain.pem, fullchain.pem, privkey.pem go")
    p.add_argument(
        "--reload-command",
        help="directory: the name of one of the server's [reload_commands] to run after writing, e.g. nginx",
    )
    p.add_argument("--reload-timeout", type=float, metavar="SECONDS", help="directory: default 30")
    p.add_argument("--region", help="aws-acm: the AWS region, e.g. eu-west-1")
    p.add_argument("--endpoint-url", help="aws-acm: another ACM endpoint (e.g. a local test server)")
    p.add_argument("--certificate-arn", help="aws-acm: re-import into this existing ACM certificate")
    p.add_argument("--vault-url", help="azure-keyvault: the vault, e.g. https://my-vault.vault.azure.net")
    p.add_argument(
        "--certificate-name", help="azure-keyvault: the certificate's name (each push: a new version)"
    )
    p.add_argument("--tenant-id", help="azure-keyvault: the directory (tenant) id of the app registration")
    p.add_argument("--client-id", help="azure-keyvault: the app registration's client id")
    p.add_argument("--authority-host", help="azure-keyvault: another Entra ID endpoint (a sovereign cloud)")
    p.add_argument("--url", help="webhook: the https:// URL to POST to")
    p.add_argument(
        "--body", choices=["bundle", "metadata"], help="webhook: the PEMs (default) or metadata only"
    )
    p.add_argument(
        "--include-key",
        action="store_const",
        const=True,
        help="webhook: also send the server-held private key",
    )
    p.add_argument(
        "--ca-certificates", metavar="FILE", help="webhook: PEM CA certificates to trust the receiver by"
    )
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="webhook: default 10")
    p.add_argument(
        "--secrets-file",
        metavar="FILE",
        help="JSON object of secrets ('-': stdin): aws-acm accessKeyId/secretAccessKey/sessionToken,"
        " azure-keyvault clientSecret, webhook hmacKey; stored encrypted, never shown",
    )
    p.add_argument("--no-push", action="store_true", help="do not push now (the next issuance will)")


def register(commands: Any) -> None:
    group = commands.add_parser("sync", help="push certificates to destinations").add_subparsers(
        dest="sync_command", required=True, metavar="ACTION"
    )
    _add_create(group)
    p = leaf(group, "list", list_all, "list syncs with their last status and error (never their secrets)")
    p.add_argument("--certificate", help="only the syncs of this certificate id")
    p.add_argument("--profile", help="only the syncs of this profile (id or name)")
    leaf(group, "show", show, "show one sync").add_argument("sync", metavar="SYNC", help="sync id or name")
    leaf(group, "run", run, "push now; exit 1 when the push failed").add_argument(
        "sync", metavar="SYNC", help="sync id or name"
    )
    leaf(
        group, "delete", delete, "delete a sync (pushed files or ACM certificates stay)", json_output=False
    ).add_argument("sync", metavar="SYNC", help="sync id or name")
