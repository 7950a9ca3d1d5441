"""Sync destinations: plugins behind one small interface (base.py), found by type name. A new kind
(Kubernetes secrets ...) is one module with a Destination and one line below.
Destinations talk to the outside world only: no storage, no services."""

from __future__ import annotations

from typing import Final

from acme_server.destinations.aws_acm import AwsAcmDestination
from acme_server.destinations.azure_keyvault import AzureKeyVaultDestination
from acme_server.destinations.base import (
    Bundle,
    Destination,
    DestinationError,
    DestinationHost,
    PushResult,
    Target,
)
from acme_server.destinations.directory import DirectoryDestination
from acme_server.destinations.webhook import WebhookDestination
from ca_core.errors import InvalidSetting

DESTINATIONS: Final[dict[str, Destination]] = {
    destination.type_name: destination
    for destination in (
        DirectoryDestination(),
        AwsAcmDestination(),
        AzureKeyVaultDestination(),
        WebhookDestination(),
    )
}


def get_destination(type_name: str) -> Destination:
    destination = DESTINATIONS.get(type_name)
    if destination is None:
        choices = ", ".join(sorted(DESTINATIONS))
        raise InvalidSetting(
            "destinationType", f"unknown destination type {type_name!r}; choose from {choices}"
        )
    return destination


__all__ = [
    "DESTINATIONS",
    "Bundle",
    "Destination",
    "DestinationError",
    "DestinationHost",
    "PushResult",
    "Target",
    "get_destination",
]
