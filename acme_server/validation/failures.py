"""ValidationFailure: how the checks report a failed challenge; NetworkValidator turns it into an outcome."""

from __future__ import annotations


class ValidationFailure(Exception):
    """A challenge did not validate. `error_type` is an RFC 8555 §6.7 type without the urn prefix;
    `detail` is safe to show to the ACME client."""

    def __init__(self, error_type: str, detail: str) -> None:
        super().__init__(f"{error_type}: {detail}")
        self.error_type = error_type
        self.detail = detail
