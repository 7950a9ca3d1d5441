"""Revocation reasons (RFC 5280 §5.3.1 CRLReason) and the revoked-entry value CRLs are built from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from cryptography import x509

from ca_core.errors import InvalidSetting


class RevocationReason(StrEnum):
    UNSPECIFIED = "UNSPECIFIED"
    KEY_COMPROMISE = "KEY_COMPROMISE"
    CA_COMPROMISE = "CA_COMPROMISE"
    AFFILIATION_CHANGED = "AFFILIATION_CHANGED"
    SUPERSEDED = "SUPERSEDED"
    CESSATION_OF_OPERATION = "CESSATION_OF_OPERATION"
    CERTIFICATE_HOLD = "CERTIFICATE_HOLD"
    REMOVE_FROM_CRL = "REMOVE_FROM_CRL"
    PRIVILEGE_WITHDRAWN = "PRIVILEGE_WITHDRAWN"
    AA_COMPROMISE = "AA_COMPROMISE"

    @property
    def code(self) -> int:
        """The CRLReason enumerated value of RFC 5280 §5.3.1 (8 follows 6: value 7 is unused)."""
        return _CODES[self]

    @classmethod
    def from_code(cls, code: int) -> RevocationReason:
        for reason, value in _CODES.items():
            if value == code:
                return reason
        raise InvalidSetting("reason", f"{code} is not a CRLReason code (RFC 5280 §5.3.1: 0-6, 8-10)")

    @classmethod
    def parse(cls, text: str) -> RevocationReason:
        """Accept KEY_COMPROMISE, keyCompromise (RFC 5280 / ACME spelling), key-compromise, any case,
        or the numeric code."""
        cleaned = text.strip()
        if cleaned.isdigit():
            return cls.from_code(int(cleaned))
        folded = _fold(cleaned)
        for reason in cls:
            if _fold(reason.value) == folded:
                return reason
        raise InvalidSetting("reason", f"{text!r} is not a revocation reason; use one of {', '.join(cls)}")

    def to_x509(self) -> x509.ReasonFlags:
        return x509.ReasonFlags[self.value.lower()]


def _fold(text: str) -> str:
    return text.replace("_", "").replace("-", "").replace(" ", "").lower()


_CODES: Final = {
    RevocationReason.UNSPECIFIED: 0,
    RevocationReason.KEY_COMPROMISE: 1,
    RevocationReason.CA_COMPROMISE: 2,
    RevocationReason.AFFILIATION_CHANGED: 3,
    RevocationReason.SUPERSEDED: 4,
    RevocationReason.CESSATION_OF_OPERATION: 5,
    RevocationReason.CERTIFICATE_HOLD: 6,
    RevocationReason.REMOVE_FROM_CRL: 8,
    RevocationReason.PRIVILEGE_WITHDRAWN: 9,
    RevocationReason.AA_COMPROMISE: 10,
}


@dataclass(frozen=True, slots=True)
class RevokedEntry:
    """One CRL entry. Slotted: a CRL may carry a million of them."""

    serial: int
    revoked_at: datetime
    reason: RevocationReason
