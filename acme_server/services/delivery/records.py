"""A stored sync as operators see it (SyncInfo, its last error without a reload command's output) and
as a push uses it: its destination configured, with the secrets unsealed here and nowhere else."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from acme_server.destinations import Target, get_destination
from acme_server.services.config import named
from acme_server.services.runtime import Runtime
from acme_server.statuses import SyncStatus
from acme_server.storage import SyncRecord, Tx

# Before reload commands were named from the server's configuration, a failed one's output was kept
# in lastError (readable by every role); such a stored error is shown without that output.
_LEAKED_OUTPUT: Final = re.compile(r"(files written, but reload command .{0,2000}? exited -?\d+): .*", re.S)


@dataclass(frozen=True)
class SyncInfo:
    """A sync as every listing shows it: never its secrets, only whether it has some."""

    id: str
    name: str
    certificate_id: str | None
    profile_id: str | None
    destination_type: str
    destination_config: dict[str, Any]
    has_secrets: bool
    destination_state: dict[str, Any]
    last_status: SyncStatus
    last_error: str | None
    last_run_at: datetime | None
    last_certificate_id: str | None
    created_at: datetime
    next_push_at: datetime | None = None  # a queued push (or its retry) is due then

    def to_document(self) -> dict[str, Any]:
        """The camelCase shape the REST API and `sync ... --json` show (no secrets: hasSecrets only)."""
        return {
            "id": self.id,
            "name": self.name,
            "certificateId": self.certificate_id,
            "profileId": self.profile_id,
            "destinationType": self.destination_type,
            "config": self.destination_config,
            "hasSecrets": self.has_secrets,
            "state": self.destination_state,
            "lastStatus": self.last_status,
            "lastError": self.last_error,
            "lastRunAt": self.last_run_at,
            "lastCertificateId": self.last_certificate_id,
            "nextPushAt": self.next_push_at,
            "createdAt": self.created_at,
        }


def sync_info(record: SyncRecord) -> SyncInfo:
    return SyncInfo(
        id=record.id,
        name=record.name,
        certificate_id=record.certificate_id,
        profile_id=record.profile_id,
        destination_type=record.destination_type,
        destination_config=dict(record.destination_config),
        has_secrets=record.sealed_secrets is not None,
        destination_state=dict(record.destination_state),
        last_status=record.last_status,
        last_error=shown_error(record.last_error),
        last_run_at=record.last_run_at,
        last_certificate_id=record.last_certificate_id,
        created_at=record.created_at,
        next_push_at=record.push_due_at,
    )


def shown_error(error: str | None) -> str | None:
    if error is None:
        return None
    leaked = _LEAKED_OUTPUT.fullmatch(error)
    return error if leaked is None else leaked.group(1) + " (output withheld)"


def secrets_context(name: str) -> bytes:
    return b"sync:" + name.encode()


def secrets(rt: Runtime, record: SyncRecord) -> dict[str, str]:
    if record.sealed_secrets is None:
        return {}
    loaded: dict[str, str] = json.loads(
        rt.unseal_secret(record.sealed_secrets, context=secrets_context(record.name))
    )
    return loaded


def target(rt: Runtime, record: SyncRecord) -> Target:
    destination = get_destination(record.destination_type)
    return destination.configure(record.destination_config, secrets(rt, record), rt.host)


async def find_record(tx: Tx, ref: str) -> SyncRecord:
    """A sync by id or name."""
    return await named.find(tx.syncs, "sync", ref)
