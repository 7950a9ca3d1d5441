"""dns-01 (RFC 8555 §8.4): a TXT record at _acme-challenge.{domain} with SHA-256 of the key authorization;
dns-account-01 (draft-ietf-acme-dns-account-label-03): the same record under a label of the account."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from acme_server.services.ports import ValidationTask
from acme_server.validation.failures import ValidationFailure
from acme_server.validation.resolver import Resolver
from acme_server.validation.targets import Identifier

# Error types (RFC 8555 §6.7): a lookup that fails or finds no TXT record is `dns` (Boulder and
# Pebble); TXT records that exist but none holds the digest is `incorrectResponse`, the type for
# "response received didn't match the challenge's requirements" (Boulder and Pebble say
# `unauthorized`, predating that type), consistent with http-01 and tls-alpn-01 here.


def txt_record_value(key_authorization: str) -> str:
    """RFC 8555 §8.4: base64url(SHA-256(key authorization)), without padding."""
    digest = hashlib.sha256(key_authorization.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def account_label(account_uri: str) -> str:
    """draft-ietf-acme-dns-account-label-03 §3.2 (validation domain name):
    "_" || base32(SHA-256(<ACCOUNT_URL>)[0:10]), lower case (RFC 4648 base32: 10 bytes are exactly
    16 characters, no padding). The draft's example: https://example.com/acme/acct/ExampleAccount
    gives _ujmmovf2vn55tgye."""
    digest = hashlib.sha256(account_uri.encode("utf-8")).digest()[:10]
    return "_" + base64.b32encode(digest).decode("ascii").lower()


async def validate_dns01(
    identifier: Identifier, key_authorization: str, resolver: Resolver, records: list[dict[str, Any]]
) -> None:
    await _check_txt(identifier, key_authorization, resolver, records, label="", method="dns-01")


async def validate_dns_account01(
    identifier: Identifier, task: ValidationTask, resolver: Resolver, records: list[dict[str, Any]]
) -> None:
    """draft-ietf-acme-dns-account-label-03 §3: dns-01's TXT value (§3.3), at
    _<account label>._acme-challenge.<domain> (§3.2)."""
    if task.account_uri is None:
        raise ValidationFailure("serverInternal", "the account URL is not known to the validator")
    label = account_label(task.account_uri) + "."
    await _check_txt(
        identifier, task.key_authorization, resolver, records, label=label, method="dns-account-01"
    )


async def _check_txt(
    identifier: Identifier,
    key_authorization: str,
    resolver: Resolver,
    records: list[dict[str, Any]],
    *,
    label: str,
    method: str,
) -> None:
    if identifier.address is not None:
        # RFC 8738 §7: DNS challenges must not validate IP identifiers (no reverse-zone proof).
        raise ValidationFailure(
            "malformed", f"{method} cannot validate an IP address identifier (RFC 8738 §7)"
        )
    # For a wildcard the identifier is already the base domain (RFC 8555 §8.4, ports.ValidationTask).
    name = f"{label}_acme-challenge.{identifier.name}"
    records.append({"hostname": identifier.name, "query": name, "record_type": "TXT"})
    values = await resolver.lookup_txt(name)  # CNAMEs in the answer are followed
    if not values:
        raise ValidationFailure("dns", f"DNS problem: no TXT records found for {name}")
    if txt_record_value(key_authorization) in values:
        return
    # Only the count: what a TXT record holds is remote data, never echoed (RFC 8555 §10.2).
    raise ValidationFailure(
        "incorrectResponse",
        f"incorrect TXT record at {name}: none of the {len(values)} found holds the expected digest",
    )
