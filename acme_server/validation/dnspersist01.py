"""dns-persist-01 (draft-ietf-acme-dns-persist-02): a lasting TXT record at _validation-persist.{domain}
naming this CA's issuer domain and the requesting account (a hashed account URI, §4.1)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from acme_server.services.ports import ValidationTask
from acme_server.validation.caa import parse_issue_value
from acme_server.validation.failures import ValidationFailure
from acme_server.validation.resolver import Resolver
from acme_server.validation.targets import Identifier

LABEL = "_validation-persist"  # §4


def hashed_account_uri(prefix: str, domain: str, thumbprint: str, account_uri: str) -> str:
    """§4.1: <accountHashPrefix>sha-256/base64url(SHA-256(len(domain) || domain || key ||
    account_URL)), `key` the account key's base64url JWK thumbprint, `domain` "*" to opt out of
    the domain binding. The draft's §10.2 test vector is pinned in the tests."""
    name = domain.encode("ascii")
    digest = hashlib.sha256(bytes([len(name)]) + name + thumbprint.encode("ascii") + account_uri.encode())
    return f"{prefix}sha-256/{base64.urlsafe_b64encode(digest.digest()).rstrip(b'=').decode('ascii')}"


def accepted_account_uris(task: ValidationTask, domain: str) -> set[str]:
    """§4.2: the hashed URI over the current key, with the domain and with "*". Also the plain
    account URL, the accounturi of drafts -00/-01 that Pebble and Boulder accept
    (docs/acme-divergences.md)."""
    if task.account_uri is None:
        return set()
    accepted = {task.account_uri}
    if task.account_hash_prefix is not None:
        for name in (domain, "*"):
            accepted.add(
                hashed_account_uri(task.account_hash_prefix, name, task.thumbprint, task.account_uri)
            )
    return accepted


async def validate_dns_persist01(
    identifier: Identifier,
    task: ValidationTask,
    issuer_domain_names: tuple[str, ...],
    resolver: Resolver,
    records: list[dict[str, Any]],
    *,
    now: datetime | None = None,
) -> datetime | None:
    """None, or the persistUntil the authorization must not outlive, when a record authorizes;
    else ValidationFailure: `malformed` for a record of ours with bad syntax, `unauthorized` for one
    that names another account, an expired persistUntil or a wildcard without policy=wildcard
    (§9.3.1), `dns` when there are no records."""
    if identifier.address is not None:
        raise ValidationFailure("malformed", "dns-persist-01 cannot validate an IP address identifier")
    name = f"{LABEL}.{identifier.name}"
    records.append({"hostname": identifier.name, "query": name, "record_type": "TXT"})
    values = await resolver.lookup_txt(name)
    if not values:
        raise ValidationFailure("dns", f"DNS problem: no TXT records found for {name}")
    ours = frozenset(i.lower() for i in issuer_domain_names)
    accepted = accepted_account_uris(task, identifier.name)
    moment = now or datetime.now(UTC)
    malformed: list[str] = []
    refused: list[str] = []
    for value in values:
        if value.partition(";")[0].strip(" \t").lower() not in ours:
            continue  # §4.3.2: records for other CAs are ignored
        verdict = _judge(value, task, accepted, moment)
        if isinstance(verdict, _Refusal):
            (malformed if verdict.malformed else refused).append(verdict.reason)
            continue
        return verdict
    # Only our own summaries: what a TXT record holds is remote data, never echoed (RFC 8555 §10.2).
    if malformed:
        raise ValidationFailure("malformed", f"dns-persist-01 at {name}: " + "; ".join(malformed))
    if refused:
        raise ValidationFailure("unauthorized", f"dns-persist-01 at {name}: " + "; ".join(refused))
    raise ValidationFailure(
        "unauthorized", f"dns-persist-01 at {name}: no TXT record names this CA ({', '.join(sorted(ours))})"
    )


@dataclass(frozen=True)
class _Refusal:
    malformed: bool
    reason: str


def _judge(
    value: str, task: ValidationTask, accepted: set[str], moment: datetime
) -> datetime | _Refusal | None:
    """One record naming this CA: authorizes (None or its persistUntil) or a refusal."""
    parsed = parse_issue_value(value)
    if parsed is None or parsed.repeated:
        return _Refusal(True, "a record naming this CA is not a valid issue-value (RFC 8659 §4.2)")
    parameters = parsed.parameters
    if "accounturi" not in parameters:
        return _Refusal(True, "a record naming this CA has no accounturi (§4.1)")
    until: datetime | None = None
    if "persistuntil" in parameters:
        text = parameters["persistuntil"]
        if not text.isdigit():
            return _Refusal(True, "a record naming this CA has a persistUntil that is not a UNIX time (§4.1)")
        until = datetime.fromtimestamp(min(int(text), 253402300799), UTC)
    # §4.1: accounturi by simple string comparison, no case folding
    if parameters["accounturi"] not in accepted:
        return _Refusal(False, "a record naming this CA is for another account")
    if until is not None and until <= moment:
        return _Refusal(False, f"a record naming this CA expired at persistUntil {until:%Y-%m-%dT%H:%M:%SZ}")
    # §4.1 item 4: policy compared case-insensitively; §5: a wildcard needs policy=wildcard
    if task.wildcard and parameters.get("policy", "").lower() != "wildcard":
        return _Refusal(False, "a record naming this CA lacks policy=wildcard, which a wildcard name needs")
    return until
