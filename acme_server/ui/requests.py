"""Certificate requests: the list, and the Request dialog (a profile, then Managed — subject, SANs, key
algorithm — or a pasted CSR; TTL and metadata for both). Issuance and every check is
services.requests; this module reads the form and puts each refusal next to the field it concerns."""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.responses import Response

from acme_server.services.access.tokens import Role
from acme_server.services.inventory import requests
from acme_server.services.issuance import ManagedRequest
from acme_server.statuses import RequestStatus
from acme_server.ui.certificates import known_names
from acme_server.ui.pages import Page, page
from ca_core.durations import parse_duration
from ca_core.errors import BadCSR, BadPublicKey, CAError, InvalidIdentifier, InvalidSetting, PolicyViolation
from ca_core.keys import KeyAlgorithm
from ca_core.metadata import parse_pairs
from ca_core.names import parse_ip
from ca_core.request import Subject, SubjectAltNames

PAGE_SIZE = 25
STATUSES = tuple(RequestStatus)
SUBJECT_FIELDS = {  # form field -> Subject attribute, and the policy's name for it
    "common_name": "commonName",
    "organization": "subject.O",
    "organizational_unit": "subject.OU",
    "country": "subject.C",
    "state": "subject.ST",
    "locality": "subject.L",
}
_FORM_FIELDS = {
    **{path: name for name, path in SUBJECT_FIELDS.items()},
    "altNames.dns": "dns",
    "altNames.ip": "ip",
    "altNames.email": "dns",
    "altNames.uri": "dns",
    "ttl": "ttl",
    "profile": "profile",
    "keyAlgorithm": "key_algorithm",
    "metadata": "metadata",
    "method": "method",
    "csr": "csr",
}


def _items(text: str) -> tuple[str, ...]:
    """Names typed one per line, or separated by commas or spaces."""
    return tuple(item for item in re.split(r"[\s,]+", text) if item)


@dataclass(frozen=True)
class _Refusal:
    field: str
    detail: str


def _field_of(exc: CAError, method: str) -> str:
    """Which form field a service's refusal is about; with a CSR, what came from the CSR is the CSR."""
    if isinstance(exc, BadCSR | BadPublicKey):
        return "csr" if method == "csr" else "key_algorithm"
    if isinstance(exc, PolicyViolation | InvalidSetting):
        field = _FORM_FIELDS.get(exc.field.split("[")[0], "form")
        if method == "csr" and field not in ("ttl", "profile", "metadata"):
            return "csr"
        return field
    if isinstance(exc, InvalidIdentifier):
        return "csr" if method == "csr" else "dns"
    return "form"


def _managed(current: Page) -> ManagedRequest:
    try:
        ips = tuple(parse_ip(ip) for ip in _items(current.field("ip")))
    except InvalidIdentifier as exc:
        raise InvalidSetting("altNames.ip", exc.detail) from None
    try:
        algorithm = KeyAlgorithm(current.field("key_algorithm") or KeyAlgorithm.EC_prime256v1)
    except ValueError:
        raise InvalidSetting("keyAlgorithm", f"{current.field('key_algorithm')!r} is not offered") from None
    subject = Subject(**{name: current.field(name) or None for name in SUBJECT_FIELDS})
    names = _items(current.field("dns"))
    sans = SubjectAltNames(
        dns=tuple(n for n in names if "@" not in n and ":" not in n),
        ip=ips,
        email=tuple(n for n in names if "@" in n and ":" not in n),
        uri=tuple(n for n in names if ":" in n),
    )
    return ManagedRequest(subject=subject, sans=sans, key_algorithm=algorithm)


async def _submit(current: Page, method: str) -> str:
    """Create the request; returns the new certificate's id."""
    ttl_text = current.field("ttl")
    ttl = parse_duration(ttl_text, field="ttl") if ttl_text else None
    lines = [line for line in current.field("metadata").splitlines() if line.strip()]
    metadata = parse_pairs(lines, field="metadata")
    if method not in ("managed", "csr"):
        raise InvalidSetting("method", "choose Managed or CSR")
    if method == "csr" and not current.field("csr"):
        raise BadCSR("paste a PEM certificate signing request")
    _, certificate = await requests.create_request(
        current.rt,
        profile=current.field("profile"),
        managed=_managed(current) if method == "managed" else None,
        csr_pem=current.field("csr").encode() if method == "csr" else None,
        ttl=ttl,
        metadata=metadata,
        friendly_name=current.field("friendly_name"),
    )
    return certificate.id


async def _render(current: Page, status: int = 200, refusal: _Refusal | None = None) -> Response:
    params = current.request.query_params
    number = int(params["page"]) if params.get("page", "").isdigit() and int(params["page"]) > 0 else 1
    metadata_filter = [m for m in params.getlist("metadata") if m.strip()]
    errors: dict[str, str] = {}
    found: list[requests.RequestInfo] = []
    total = 0
    status_filter = params.get("status")
    try:
        found, total = await requests.list_requests(
            current.rt,
            status=RequestStatus(status_filter) if status_filter in STATUSES else None,
            metadata=parse_pairs(metadata_filter, field="metadata_filter"),
            limit=PAGE_SIZE,
            offset=(number - 1) * PAGE_SIZE,
        )
    except InvalidSetting as exc:
        errors["metadata_filter"] = exc.detail
    if refusal is not None:
        errors[refusal.field] = refusal.detail
    return current.render(
        "requests.html",
        status=status,
        requests=found,
        total=total,
        number=number,
        pages=max(1, -(-total // PAGE_SIZE)),
        statuses=STATUSES,
        status_filter=params.get("status", ""),
        metadata_filter=metadata_filter,
        profile_names=(await known_names(current))[0],
        key_algorithms=list(KeyAlgorithm),
        errors=errors,
        dialog=refusal is not None or current.field("dialog") == "request",
        form=current.form or {},
        Role=Role,
    )


@page()
async def list_requests(current: Page) -> Response:
    return await _render(current)


@page(Role.OPERATOR)
async def create_request(current: Page) -> Response:
    method = current.field("method")
    try:
        certificate_id = await _submit(current, method)
    except CAError as exc:
        return await _render(current, 400, _Refusal(_field_of(exc, method), exc.detail))
    return current.redirect("certificate", id=certificate_id)
