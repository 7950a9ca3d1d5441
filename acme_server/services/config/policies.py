"""Certificate policy use-cases: CRUD over validated ca_core.policy.Policy values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from acme_server.errors import Conflict
from acme_server.services.config import named
from acme_server.services.platform import audit
from acme_server.services.runtime import Runtime
from acme_server.storage import PolicyRecord, Tx
from ca_core.policy import Policy


@dataclass(frozen=True)
class PolicyInfo(named.DocumentInfo[Policy]):
    @property
    def policy(self) -> Policy:
        return self.value


def _info(record: PolicyRecord) -> PolicyInfo:
    return named.document_info(PolicyInfo, record, Policy.from_document)


async def find_record(tx: Tx, ref: str) -> PolicyRecord:
    return await named.find(tx.policies, "policy", ref)


async def create_policy(rt: Runtime, name: str, document: Mapping[str, Any]) -> PolicyInfo:
    policy = Policy.from_document(name, document)  # validates before anything is stored
    async with rt.storage.transaction() as tx:
        record = await tx.policies.create(name=policy.name, document=policy.to_document())
        await audit.record(tx, audit.current(), "policy.create", "policy", record.id, {"name": policy.name})
    return _info(record)


async def update_policy(rt: Runtime, ref: str, document: Mapping[str, Any]) -> PolicyInfo:
    async with rt.storage.transaction() as tx:
        record = await find_record(tx, ref)
        policy = Policy.from_document(record.name, document)
        await audit.record(tx, audit.current(), "policy.update", "policy", record.id, {"name": record.name})
        return _info(await tx.policies.update(record.id, document=policy.to_document()))


async def get_policy(rt: Runtime, ref: str) -> PolicyInfo:
    async with rt.storage.read() as tx:
        return _info(await find_record(tx, ref))


async def list_policies(rt: Runtime) -> list[PolicyInfo]:
    async with rt.storage.read() as tx:
        return [_info(r) for r in await tx.policies.list()]


async def delete_policy(rt: Runtime, ref: str) -> None:
    async with rt.storage.transaction() as tx:
        record = await find_record(tx, ref)
        users = [p.name for p in await tx.profiles.list() if p.policy_id == record.id]
        if users:
            raise Conflict(f"policy {record.name!r} is used by profile {users[0]!r}")
        await tx.policies.delete(record.id)
        await audit.record(tx, audit.current(), "policy.delete", "policy", record.id, {"name": record.name})
