"""/cert-manager/certificate-policies and /certificate-profiles: CRUD over the documents ca_core
validates (an error names the field, e.g. `keyUsages[2]`); a profile or policy in use is not deleted;
the name is given at creation only (PUT and PATCH bodies have no `name`).
Both resources have the same shape, so one DocumentResource serves each."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from acme_server.api import views
from acme_server.api.http import Call
from acme_server.services.config import policies, profiles
from acme_server.services.runtime import Runtime

Info = TypeVar("Info", policies.PolicyInfo, profiles.ProfileInfo)


@dataclass(frozen=True)
class DocumentResource(Generic[Info]):
    """Handlers over one service module's create/get/list/update/delete of named documents."""

    param: str  # the path parameter: the id or name
    list_key: str
    create_one: Callable[[Runtime, str, Mapping[str, Any]], Awaitable[Info]]
    get_one: Callable[[Runtime, str], Awaitable[Info]]
    list_all: Callable[[Runtime], Awaitable[list[Info]]]
    update_one: Callable[[Runtime, str, Mapping[str, Any]], Awaitable[Info]]
    delete_one: Callable[[Runtime, str], Awaitable[None]]
    view: Callable[[Info], dict[str, Any]]
    document: Callable[[Info], dict[str, Any]]

    async def create(self, call: Call) -> dict[str, Any]:
        document = dict(call.body)  # the schema (NewPolicy, NewProfile) requires the name
        name = document.pop("name")
        return self.view(await self.create_one(call.rt, name, document))

    async def listing(self, call: Call) -> dict[str, Any]:
        return {self.list_key: [self.view(info) for info in await self.list_all(call.rt)]}

    async def get(self, call: Call) -> dict[str, Any]:
        return self.view(await self.get_one(call.rt, call.path[self.param]))

    async def replace(self, call: Call) -> dict[str, Any]:
        """PUT: the whole document; fields left out take their defaults."""
        return self.view(await self.update_one(call.rt, call.path[self.param], call.body))

    async def patch(self, call: Call) -> dict[str, Any]:
        """PATCH: only the fields given change; the rest keep their stored values."""
        current = await self.get_one(call.rt, call.path[self.param])
        return self.view(await self.update_one(call.rt, current.id, {**self.document(current), **call.body}))

    async def delete(self, call: Call) -> None:
        await self.delete_one(call.rt, call.path[self.param])


POLICIES = DocumentResource[policies.PolicyInfo](
    param="policy",
    list_key="certificatePolicies",
    create_one=policies.create_policy,
    get_one=policies.get_policy,
    list_all=policies.list_policies,
    update_one=policies.update_policy,
    delete_one=policies.delete_policy,
    view=views.policy,
    document=lambda info: info.policy.to_document(),
)
PROFILES = DocumentResource[profiles.ProfileInfo](
    param="profile",
    list_key="certificateProfiles",
    create_one=profiles.create_profile,
    get_one=profiles.get_profile,
    list_all=profiles.list_profiles,
    update_one=profiles.update_profile,
    delete_one=profiles.delete_profile,
    view=views.profile,
    document=lambda info: info.profile.to_document(),
)
