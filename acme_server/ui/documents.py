"""Certificate profiles and policies (admin changes them, every role reads them, as the API): the list,
one document as a form (create, edit) and delete, which the services refuse with a 409 while the
profile or policy is in use. Both are named documents that ca_core validates, so one field table per
kind drives the form: each field reads and writes one path of the document, and a refusal naming a
path (`keyUsages[1]`, `altNames.dns.allowed[0]`, `basicConstraints.pathLength`) is shown next to that
field. Every setting of the API's documents has a field, so an edit in the form changes what the API
would, and keeps nothing out of sight."""

from __future__ import annotations

import copy
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from acme_server.problems import problem_for
from acme_server.services.access.tokens import Role
from acme_server.services.config import cas, policies, profiles
from acme_server.services.runtime import Runtime
from acme_server.ui.pages import Endpoint, Page, page
from ca_core.errors import CAError, InvalidSetting
from ca_core.keys import KeyAlgorithm
from ca_core.policy import SUBJECT_POLICY_ATTRIBUTES, Policy
from ca_core.profile import ChallengeType, EnrollmentMethod, ExtendedKeyUsage, KeyUsage, Profile

Options = Callable[[Runtime], Awaitable[list[tuple[str, str]]]]  # (value, label)


@dataclass(frozen=True)
class Field:
    name: str  # the form field
    label: str
    path: tuple[str, ...]  # where in the document
    # text | number | optional (empty: null) | optional_number | lines | patterns (lines; empty: the key
    # is left out, as "no restriction" differs from "nothing allowed") | checks | bool | select | issuer
    kind: str = "text"
    options: Sequence[str] = ()  # for checks
    choices: Options | None = None  # for select and issuer
    hint: str = ""


async def _ca_choices(rt: Runtime) -> list[tuple[str, str]]:
    return [(ca.id, ca.name) for ca in await cas.list_cas(rt) if ca.certificate_pem]


async def _policy_choices(rt: Runtime) -> list[tuple[str, str]]:
    return [("", "none (no restriction)")] + [(p.id, p.policy.name) for p in await policies.list_policies(rt)]


def _values(enum: Any) -> tuple[str, ...]:
    return tuple(member.value for member in enum)


PROFILE_FIELDS = (
    Field("description", "Description", ("description",)),
    Field("issuer", "Issuing CA", ("caId",), "issuer", choices=_ca_choices),
    Field("policy", "Policy", ("policyId",), "select", choices=_policy_choices),
    Field("default_ttl", "Default lifetime", ("defaultTtl",), hint="e.g. 90d"),
    Field("max_ttl", "Maximum lifetime", ("maxTtl",), hint="e.g. 397d"),
    Field("key_usages", "Key usages", ("keyUsages",), "checks", _values(KeyUsage)),
    Field(
        "extended_key_usages",
        "Extended key usages",
        ("extendedKeyUsages",),
        "checks",
        _values(ExtendedKeyUsage),
    ),
    Field(
        "key_algorithms", "Allowed key algorithms", ("allowedKeyAlgorithms",), "checks", _values(KeyAlgorithm)
    ),
    Field("enrollment_methods", "Enrollment", ("enrollmentMethods",), "checks", _values(EnrollmentMethod)),
    Field("basic_ca", "Basic constraints: a CA certificate (CA:TRUE)", ("basicConstraints", "ca"), "bool"),
    Field(
        "path_length",
        "Basic constraints: path length",
        ("basicConstraints", "pathLength"),
        "optional_number",
        hint="empty: no limit; needs CA:TRUE",
    ),
    Field("renew_before_days", "Renew before (days)", ("renewBeforeDays",), "number"),
    Field("auto_renew", "Auto-renew new certificates", ("autoRenewByDefault",), "bool"),
    Field("require_eab", "ACME: require external account binding", ("requireEab",), "bool"),
    Field("allow_wildcards", "ACME: allow wildcard names", ("allowWildcards",), "bool"),
    Field("challenge_types", "ACME: challenge types", ("challengeTypes",), "checks", _values(ChallengeType)),
    Field(
        "pre_authorized",
        "ACME: names EAB-bound accounts get without a challenge",
        ("preAuthorized",),
        "lines",
    ),
    Field(
        "authorization_reuse",
        "ACME: reuse a validated name for",
        ("authorizationReuse",),
        hint="30d; 0d: never",
    ),
    Field("max_backdate", "ACME: maximum backdating of notBefore", ("maxBackdate",), hint="1h; 0: none"),
    Field(
        "renewal_window_start",
        "ACME renewalInfo: window starts at (% of lifetime)",
        ("renewalWindow", "start"),
        "number",
        hint="0-100",
    ),
    Field(
        "renewal_window_end",
        "ACME renewalInfo: window ends at (% of lifetime)",
        ("renewalWindow", "end"),
        "number",
        hint="0-100",
    ),
)


def _names(kind: str, label: str) -> tuple[Field, Field]:
    path = ("altNames", kind) if kind != "commonName" else ("commonName",)
    return (
        Field(f"{kind}_allowed", f"{label}: allowed", (*path, "allowed"), "lines", hint="one pattern a line"),
        Field(f"{kind}_denied", f"{label}: denied", (*path, "denied"), "lines", hint="always wins"),
    )


POLICY_FIELDS = (
    Field("description", "Description", ("description",)),
    *_names("commonName", "Common name"),
    *_names("dns", "DNS names"),
    *_names("ip", "IP addresses"),
    *_names("email", "E-mail addresses"),
    *_names("uri", "URIs"),
    *(
        Field(
            f"subject_{attribute}",
            f"Subject {attribute}: allowed values",
            ("subject", "allowed", attribute),
            "patterns",
            hint="one glob a line (* and ?); empty: any",
        )
        for attribute in SUBJECT_POLICY_ATTRIBUTES
    ),
    Field(
        "required_subject",
        "Required subject attributes",
        ("subject", "required"),
        "checks",
        ("O", "OU", "C", "ST", "L"),
    ),
    Field("max_ttl", "Maximum lifetime", ("maxTtl",), "optional", hint="empty: no cap"),
)


@dataclass(frozen=True)
class Shown:
    """One profile or policy as the pages show it."""

    id: str
    name: str
    document: dict[str, Any]
    summary: str


@dataclass(frozen=True)
class Kind:
    """Profiles or policies: their services, fields and route names."""

    key: str  # "profile" | "policy": the route names are <key>s, <key>, new_<key>, ...
    title: str
    fields: tuple[Field, ...]
    listing: Callable[[Runtime], Awaitable[list[Shown]]]
    get: Callable[[Runtime, str], Awaitable[Shown]]
    create: Callable[[Runtime, str, Mapping[str, Any]], Awaitable[Any]]
    update: Callable[[Runtime, str, Mapping[str, Any]], Awaitable[Any]]
    delete: Callable[[Runtime, str], Awaitable[None]]
    default: Callable[[], dict[str, Any]]

    @property
    def plural(self) -> str:
        return "policies" if self.key == "policy" else self.key + "s"


def _profile(info: profiles.ProfileInfo) -> Shown:
    p = info.profile
    issuer = "self-signed" if p.ca_id is None else "CA"
    return Shown(info.id, p.name, p.to_document(), f"{issuer}, {p.default_ttl.days}d default")


def _policy(info: policies.PolicyInfo) -> Shown:
    return Shown(
        info.id, info.policy.name, info.policy.to_document(), info.policy.to_document()["description"]
    )


async def _list_profiles(rt: Runtime) -> list[Shown]:
    return [_profile(info) for info in await profiles.list_profiles(rt)]


async def _get_profile(rt: Runtime, ref: str) -> Shown:
    return _profile(await profiles.get_profile(rt, ref))


async def _list_policies(rt: Runtime) -> list[Shown]:
    return [_policy(info) for info in await policies.list_policies(rt)]


async def _get_policy(rt: Runtime, ref: str) -> Shown:
    return _policy(await policies.get_policy(rt, ref))


PROFILES = Kind(
    "profile",
    "Certificate profiles",
    PROFILE_FIELDS,
    _list_profiles,
    _get_profile,
    profiles.create_profile,
    profiles.update_profile,
    profiles.delete_profile,
    lambda: Profile.from_document("new", {"issuerType": "self-signed"}).to_document(),
)
POLICIES = Kind(
    "policy",
    "Certificate policies",
    POLICY_FIELDS,
    _list_policies,
    _get_policy,
    policies.create_policy,
    policies.update_policy,
    policies.delete_policy,
    lambda: Policy.from_document("new", {}).to_document(),
)


def _read(document: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = document
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _write(document: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        document = document.setdefault(key, {})
    document[path[-1]] = value


def _remove(document: dict[str, Any], path: tuple[str, ...]) -> None:
    parent = _read(document, path[:-1])
    if isinstance(parent, dict):
        parent.pop(path[-1], None)


def _submitted(current: Page, field: Field) -> Any:
    if field.kind == "checks":
        assert current.form is not None
        return [str(v) for v in current.form.getlist(field.name)]
    if field.kind == "bool":
        return current.field(field.name) == "yes"
    if field.kind in ("lines", "patterns"):
        lines = [line.strip() for line in current.field(field.name).splitlines() if line.strip()]
        return lines or (None if field.kind == "patterns" else [])
    text = current.field(field.name)
    if field.kind in ("number", "optional_number"):
        return _number(text.strip(), optional=field.kind == "optional_number")
    if field.kind in ("optional", "select"):
        return text or None
    return text


def _number(text: str, *, optional: bool) -> int | str | None:
    """A whole number as typed (-1 too: the document's checks refuse it naming the field); anything
    else is passed on as text for the same reason; empty is null where the setting may be null."""
    if not text and optional:
        return None
    try:
        return int(text)
    except ValueError:
        return text


def _document_from_form(current: Page, kind: Kind, base: Mapping[str, Any]) -> dict[str, Any]:
    """The stored document (or the defaults) with every field of the form applied."""
    document = copy.deepcopy(dict(base))
    for field in kind.fields:
        value = _submitted(current, field)
        if field.kind == "issuer":  # no CA chosen: self-signed
            document["issuerType"] = "ca" if value else "self-signed"
            value = value or None
        if field.kind == "patterns" and value is None:
            _remove(document, field.path)
        else:
            _write(document, field.path, value)
    return document


def _field_of(kind: Kind, exc: CAError) -> str:
    """The form field a refusal names by its document path (`keyUsages[1]` -> key_usages)."""
    if not isinstance(exc, InvalidSetting):
        return "form"
    path = tuple(part for part in re.split(r"[.\[\]]", exc.field) if part and not part.isdigit())
    if path[:1] == ("issuerType",):
        return "issuer"
    for field in kind.fields:
        if path[: len(field.path)] == field.path or field.path[: len(path)] == path:
            return field.name
    return "name" if path[:1] == ("name",) else "form"


async def _choices(current: Page, kind: Kind) -> dict[str, list[tuple[str, str]]]:
    return {f.name: await f.choices(current.rt) for f in kind.fields if f.choices is not None}


async def _form_page(
    current: Page,
    kind: Kind,
    shown: Shown | None,
    document: Mapping[str, Any],
    status: int = 200,
    errors: Mapping[str, str] | None = None,
) -> Response:
    return current.render(
        "document.html",
        status=status,
        kind=kind,
        shown=shown,
        document=document,
        read=_read,
        choices=await _choices(current, kind),
        errors=dict(errors or {}),
        name=current.field("name"),
        dialog=current.field("dialog"),
    )


class _Pages:
    """The pages and actions of one kind."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind

    async def listing(self, current: Page) -> Response:
        return current.render("documents.html", kind=self.kind, items=await self.kind.listing(current.rt))

    async def new(self, current: Page) -> Response:
        return await _form_page(current, self.kind, None, self.kind.default())

    async def create(self, current: Page) -> Response:
        kind = self.kind
        document = _document_from_form(current, kind, kind.default())
        try:
            await kind.create(current.rt, current.field("name"), document)
        except CAError as exc:
            errors = {_field_of(kind, exc): exc.detail}
            return await _form_page(current, kind, None, document, problem_for(exc)[1], errors)
        return current.redirect(kind.key, id=current.field("name"))

    async def show(self, current: Page) -> Response:
        shown = await self.kind.get(current.rt, current.request.path_params["id"])
        return await _form_page(current, self.kind, shown, shown.document)

    async def update(self, current: Page) -> Response:
        kind = self.kind
        shown = await kind.get(current.rt, current.request.path_params["id"])
        document = _document_from_form(current, kind, shown.document)
        try:
            await kind.update(current.rt, shown.id, document)
        except CAError as exc:
            errors = {_field_of(kind, exc): exc.detail}
            return await _form_page(current, kind, shown, document, problem_for(exc)[1], errors)
        return current.redirect(kind.key, {"saved": "1"}, id=shown.id)

    async def delete(self, current: Page) -> Response:
        kind = self.kind
        shown = await kind.get(current.rt, current.request.path_params["id"])
        try:
            await kind.delete(current.rt, shown.id)
        except CAError as exc:  # in use: 409, shown on the page with the document unchanged
            errors = {"delete": exc.detail}
            return await _form_page(current, kind, shown, shown.document, problem_for(exc)[1], errors)
        return current.redirect(kind.plural)


def handlers(kind: Kind) -> dict[str, Endpoint]:
    """The pages and actions of one kind by route name; reading is every role's, changing the admin's
    (the API's roles for the same resources)."""
    pages = _Pages(kind)
    return {
        kind.plural: page()(pages.listing),
        f"new_{kind.key}": page(Role.ADMIN)(pages.new),
        f"create_{kind.key}": page(Role.ADMIN)(pages.create),
        kind.key: page()(pages.show),
        f"update_{kind.key}": page(Role.ADMIN)(pages.update),
        f"delete_{kind.key}": page(Role.ADMIN)(pages.delete),
    }
