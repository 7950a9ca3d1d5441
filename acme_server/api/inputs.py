"""Service values from checked request bodies and query parameters (the schemas already checked types
and enums; what is left is turning JSON into ca_core values, naming the field when that fails)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from acme_server.services.issuance import ManagedRequest
from ca_core.authority import CASettings
from ca_core.durations import parse_duration
from ca_core.errors import InvalidSetting
from ca_core.keys import KeyAlgorithm
from ca_core.request import Subject, SubjectAltNames
from ca_core.subject import check_attributes

_SUBJECT_KEYS = {
    "commonName": "common_name",
    "organization": "organization",
    "organizationalUnit": "organizational_unit",
    "country": "country",
    "state": "state",
    "locality": "locality",
}


# Subject short name (as ca_core.subject reports it) -> the API's key for it.
_API_KEYS = {
    "CN": "commonName",
    "O": "organization",
    "OU": "organizationalUnit",
    "C": "country",
    "ST": "state",
    "L": "locality",
}


def subject(
    body: Mapping[str, Any], *, default_cn: str | None = None, default_cn_field: str = "name", path: str = ""
) -> Subject:
    """The subject, each attribute checked (RFC 5280 bounds, two-letter country) naming the API field,
    e.g. "managed.commonName"; a common name taken from `default_cn` is reported as `default_cn_field`."""
    values = {attr: body.get(key) or None for key, attr in _SUBJECT_KEYS.items()}
    fields = {short: path + key for short, key in _API_KEYS.items()}
    if values["common_name"] is None and default_cn is not None:
        values["common_name"], fields["CN"] = default_cn, default_cn_field
    built = Subject(**values)
    check_attributes(built.attributes(), fields)
    return built


def duration(body: Mapping[str, Any], key: str, *, path: str = "") -> timedelta | None:
    value = body.get(key)
    return parse_duration(value, field=path + key) if value is not None else None


def key_algorithm(body: Mapping[str, Any]) -> KeyAlgorithm | None:
    """The CA key's algorithm; None when not given: EC P-256 for a new key, or that of the key a
    `pkcs11Uri` names when the token holds it already."""
    value = body.get("keyAlgorithm")
    return KeyAlgorithm(value) if value is not None else None


def ca_settings(body: Mapping[str, Any]) -> CASettings:
    return CASettings(
        crl_url=body.get("crlUrl"),
        ocsp_url=body.get("ocspUrl"),
        issuer_url=body.get("issuerUrl"),
        max_path_length=body.get("maxPathLength"),
        status_url=body.get("statusUrl"),
        crl_partitions=body.get("crlPartitions", 1),
    )


def alt_names(values: Sequence[str]) -> SubjectAltNames:
    """Each SAN typed by its syntax: an IP address, an e-mail (has @), a URI (has ://), else DNS."""
    dns: list[str] = []
    ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    emails: list[str] = []
    uris: list[str] = []
    for value in values:
        text = value.strip()
        try:
            ips.append(ipaddress.ip_address(text))
            continue
        except ValueError:
            pass
        if "://" in text:
            uris.append(text)
        elif "@" in text:
            emails.append(text)
        else:
            dns.append(text)
    return SubjectAltNames(dns=tuple(dns), ip=tuple(ips), email=tuple(emails), uri=tuple(uris))


def managed(body: Mapping[str, Any]) -> ManagedRequest:
    return ManagedRequest(
        subject=subject(body, path="managed."),
        sans=alt_names(body.get("altNames", [])),
        key_algorithm=key_algorithm(body) or KeyAlgorithm.EC_prime256v1,
    )


def instant(text: str) -> datetime:
    """An ISO date or date-time in UTC (already checked by the schema, in range too); a date means its
    midnight, UTC."""
    parsed = datetime.fromisoformat(text)
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def required(values: Mapping[str, Any], key: str) -> Any:
    if values.get(key) in (None, ""):
        raise InvalidSetting(key, "is required here")
    return values[key]
