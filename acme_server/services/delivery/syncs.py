"""Syncs: bind a certificate (followed across renewals) or a profile's newest active certificate to a
destination (acme_server.destinations): create (the configuration checked, the secrets sealed with the
KEK), list, show and delete. Pushing them is pushes.py; a stored sync as shown is records.py."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from acme_server.destinations import DESTINATIONS, get_destination
from acme_server.errors import Forbidden, NotFound
from acme_server.services.access.tokens import Role
from acme_server.services.config import profiles
from acme_server.services.delivery import pushes, records
from acme_server.services.platform import audit
from acme_server.services.runtime import Runtime
from ca_core.errors import InvalidSetting

_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def destination_types() -> list[str]:
    return sorted(DESTINATIONS)


def reload_command_names(rt: Runtime) -> list[str]:
    """The reload commands a `directory` sync may name: the server's configuration, never the API."""
    return sorted(rt.host.reload_commands)


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise InvalidSetting(
            "name", "use 1-64 letters, digits, '.', '-' and '_', starting with a letter or digit"
        )


async def create_sync(
    rt: Runtime,
    *,
    name: str,
    destination_type: str,
    config: Mapping[str, Any],
    secrets: Mapping[str, str] | None = None,
    certificate: str | None = None,
    profile: str | None = None,
    push: bool = True,
    role: Role = Role.ADMIN,
) -> records.SyncInfo:
    """Bind `certificate` (an id) or `profile`'s newest certificate (id or name) to a destination;
    the configuration is validated now (InvalidSetting naming the field). With `push`, the first
    push happens at once and its outcome is in the returned sync. `role` is the caller's (the local
    shell is an admin): settings that act on the server's host need an admin."""
    _check_name(name)
    if (certificate is None) == (profile is None):
        raise InvalidSetting("target", "give either a certificate or a profile")
    secrets = dict(secrets or {})
    destination = get_destination(destination_type)
    if not role.allows(Role.ADMIN) and isinstance(config, Mapping):
        reason = destination.admin_reason(config, rt.host)
        if reason is not None:
            raise Forbidden(reason)
    destination.configure(config, secrets, rt.host)
    sealed = (
        rt.seal_secret(json.dumps(secrets).encode(), context=records.secrets_context(name))
        if secrets
        else None
    )
    async with rt.storage.transaction() as tx:
        certificate_id = profile_id = None
        if certificate is not None:
            if await tx.certificates.get(certificate) is None:
                raise NotFound("certificate", certificate)
            certificate_id = certificate
        if profile is not None:
            profile_id = (await profiles.find_record(tx, profile)).id
        record = await tx.syncs.create(
            name=name,
            destination_type=destination_type,
            destination_config=config,
            certificate_id=certificate_id,
            profile_id=profile_id,
            sealed_secrets=sealed,
        )
        await audit.record(
            tx,
            audit.current(),
            "sync.create",
            "sync",
            record.id,
            {"name": name, "destinationType": destination_type},
        )
    return await pushes.run_sync(rt, record.id) if push else records.sync_info(record)


async def list_syncs(
    rt: Runtime, *, certificate: str | None = None, profile: str | None = None
) -> list[records.SyncInfo]:
    async with rt.storage.read() as tx:
        profile_id = None if profile is None else (await profiles.find_record(tx, profile)).id
        return [
            records.sync_info(r)
            for r in await tx.syncs.list(certificate_id=certificate, profile_id=profile_id)
        ]


async def get_sync(rt: Runtime, ref: str) -> records.SyncInfo:
    async with rt.storage.read() as tx:
        return records.sync_info(await records.find_record(tx, ref))


async def delete_sync(rt: Runtime, ref: str) -> None:
    """Forget the sync; what it pushed stays where it is."""
    async with rt.storage.transaction() as tx:
        record = await records.find_record(tx, ref)
        await tx.syncs.delete(record.id)
        await audit.record(tx, audit.current(), "sync.delete", "sync", record.id, {"name": record.name})
