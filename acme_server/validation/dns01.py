"""dns-01 (RFC 8555 §8.4): a TXT record at _acme-challenge.{domain} with SHA-256 of the key authorization."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

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


async def validate_dns01(
    identifier: Identifier, key_authorization: str, resolver: Resolver, records: list[dict[str, Any]]
) -> None:
    if identifier.address is not None:
        # RFC 8738 §7: dns-01 must not be used to validate IP identifiers (no reverse-zone proof).
        raise ValidationFailure("malformed", "dns-01 cannot validate an IP address identifier (RFC 8738 §7)")
    # For a wildcard the identifier is already the base domain (RFC 8555 §8.4, ports.ValidationTask).
    name = f"_acme-challenge.{identifier.name}"
    records.append({"hostname": identifier.name, "query": name, "record_type": "TXT"})
    values = await resolver.lookup_txt(name)  # dnspython follows CNAMEs in the answer
    if not values:
        raise ValidationFailure("dns", f"DNS problem: no TXT records found for {name}")
    if txt_record_value(key_authorization) in values:
        return
    # Only the count: what a TXT record holds is remote data, never echoed (RFC 8555 §10.2).
    raise ValidationFailure(
        "incorrectResponse",
        f"incorrect TXT record at {name}: none of the {len(values)} found holds the expected digest",
    )
