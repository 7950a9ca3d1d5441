"""Certificate profile use-cases: CRUD over validated ca_core.profile.Profile values; the issuing CA
and policy are referenced by id (names are resolved here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from acme_server.errors import Conflict
from acme_server.services.config import cas, catalog, named, policies
from acme_server.services.platform import audit
from acme_server.services.runtime import Runtime
from acme_server.storage import CertificateRequestFilter, ProfileRecord, Tx
from ca_core.profile import EnrollmentMethod, Profile


@dataclass(frozen=True)
class ProfileInfo(named.DocumentInfo[Profile]):
    @property
    def profile(self) -> Profile:
        return self.value


def _info(record: ProfileRecord) -> ProfileInfo:
    return named.document_info(ProfileInfo, record, Profile.from_document)


async def find_record(tx: Tx, ref: str) -> ProfileRecord:
    return await named.find(tx.profiles, "profile", ref)


async def _resolve_references(tx: Tx, document: Mapping[str, Any]) -> dict[str, Any]:
    """caId / policyId may be given as names; store ids."""
    resolved = dict(document)
    if resolved.get("caId"):
        resolved["caId"] = (await cas.find_record(tx, str(resolved["caId"]))).id
    if resolved.get("policyId"):
        resolved["policyId"] = (await policies.find_record(tx, str(resolved["policyId"]))).id
    return resolved


async def create_profile(rt: Runtime, name: str, document: Mapping[str, Any]) -> ProfileInfo:
    async with rt.storage.transaction() as tx:
        profile = Profile.from_document(name, await _resolve_references(tx, document))
        record = await tx.profiles.create(
            name=profile.name,
            ca_id=profile.ca_id,
            policy_id=profile.policy_id,
            document=profile.to_document(),
        )
        await audit.record(
            tx, audit.current(), "profile.create", "profile", record.id, {"name": profile.name}
        )
    return _info(record)


async def update_profile(rt: Runtime, ref: str, document: Mapping[str, Any]) -> ProfileInfo:
    async with rt.storage.transaction() as tx:
        record = await find_record(tx, ref)
        profile = Profile.from_document(record.name, await _resolve_references(tx, document))
        updated = await tx.profiles.update(
            record.id, ca_id=profile.ca_id, policy_id=profile.policy_id, document=profile.to_document()
        )
        await audit.record(tx, audit.current(), "profile.update", "profile", record.id, {"name": record.name})
    return _info(updated)


async def get_profile(rt: Runtime, ref: str) -> ProfileInfo:
    async with rt.storage.read() as tx:
        return _info(await find_record(tx, ref))


async def list_profiles(rt: Runtime) -> list[ProfileInfo]:
    async with rt.storage.read() as tx:
        return [_info(r) for r in await tx.profiles.list()]


async def delete_profile(rt: Runtime, ref: str) -> None:
    async with rt.storage.transaction() as tx:
        record = await find_record(tx, ref)
        in_use = await tx.profiles.count_certificates(record.id)
        if in_use:
            raise Conflict(f"profile {record.name!r} is in use by {in_use} certificate(s)")
        _, requested = await tx.requests.list(CertificateRequestFilter(profile_id=record.id), limit=1)
        if requested:
            raise Conflict(f"profile {record.name!r} has {requested} certificate request(s) on record")
        if any(key.account_count for key in await tx.eab.list(record.id)):
            raise Conflict(f"profile {record.name!r} has external account keys bound to accounts")
        await tx.profiles.delete(record.id)
        await audit.record(tx, audit.current(), "profile.delete", "profile", record.id, {"name": record.name})


async def acme_profiles(rt: Runtime) -> list[Profile]:
    """The profiles ACME clients may ask for (the directory's meta.profiles), from the catalog."""
    return [
        profile
        for _, profile in (await catalog.current(rt)).profiles()
        if EnrollmentMethod.ACME in profile.enrollment_methods
    ]


async def profile_name(rt: Runtime, profile_id: str | None) -> str | None:
    """A profile's name by id, cached per process (a profile is never renamed)."""
    if profile_id is None:
        return None
    name = rt.profile_names.get(profile_id)
    if name is None:
        async with rt.storage.read() as tx:
            record = await tx.profiles.get(profile_id)
        if record is None:
            return None
        name = rt.profile_names[profile_id] = record.name
    return name
