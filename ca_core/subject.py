"""Subject attribute rules, checked once for every edge (API, CLI, UI, ACME CSRs): what cryptography
would otherwise refuse with a bare ValueError while building the name, reported naming the field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from ca_core.errors import InvalidSetting

# RFC 5280 Appendix A.1 upper bounds (ub-common-name etc.), in characters, by short name.
UPPER_BOUNDS: Final = {
    "CN": 64,  # ub-common-name
    "O": 64,  # ub-organization-name
    "OU": 64,  # ub-organizational-unit-name
    "L": 128,  # ub-locality-name
    "ST": 128,  # ub-state-name
    "emailAddress": 255,  # ub-emailaddress-length
    "serialNumber": 64,  # ub-serial-number
}
# RFC 5280 Appendix A.1: countryName is a PrintableString of exactly ub-country-name-alpha-length (2),
# an ISO 3166 alpha-2 code; cryptography refuses anything else at signing time.
_COUNTRY: Final = re.compile(r"[A-Za-z]{2}")


def check_attribute(short: str, value: str, *, field: str) -> None:
    """Raise InvalidSetting naming `field` when `value` cannot be the subject attribute `short`."""
    if short == "C":
        if not _COUNTRY.fullmatch(value):
            raise InvalidSetting(field, f"{_shown(value)} is not a two-letter country code like 'DE'")
        return
    bound = UPPER_BOUNDS.get(short)
    if bound is not None and len(value) > bound:
        raise InvalidSetting(field, f"must be at most {bound} characters (RFC 5280), got {len(value)}")


def check_attributes(attributes: Mapping[str, str], fields: Mapping[str, str] | None = None) -> None:
    """Check each attribute (short name -> value); `fields` maps a short name to the field name the
    caller's input used ("managed.commonName"); by default the field is "subject.<short>"."""
    for short, value in attributes.items():
        check_attribute(short, value, field=(fields or {}).get(short, f"subject.{short}"))


def _shown(value: str) -> str:
    return repr(value) if len(value) <= 20 else repr(value[:20] + "…")
