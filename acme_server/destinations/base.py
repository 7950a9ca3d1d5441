"""The one small interface every sync destination implements: validate a configuration (and its
secrets) into a Target once, then push bundles to it. Failures are DestinationError, whose detail
becomes the sync's last error."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from acme_server.validation.blocklist import ALWAYS_BLOCKED, LOOPBACK, Network
from ca_core.documents import read_string
from ca_core.errors import CAError, InvalidSetting


class DestinationError(CAError):
    """A push did not complete (unreachable, refused, reload failed ...); the detail says why."""


@dataclass(frozen=True)
class Bundle:
    """What a destination receives: one certificate, its chain and, when the server holds it, its key."""

    certificate_id: str
    serial: str
    common_name: str
    certificate_pem: str
    chain_pem: str  # the issuing CA first, up to the root; empty for a self-signed certificate
    private_key_pem: str | None  # unencrypted PKCS#8; None for a certificate issued from a CSR
    names: tuple[str, ...] = ()  # its subjectAltName values
    not_after: datetime | None = None
    download_url: str = ""  # where a holder of an operator token fetches it (the REST export)

    @property
    def fullchain_pem(self) -> str:
        return self.certificate_pem + self.chain_pem


@dataclass(frozen=True)
class DestinationHost:
    """What the server's own configuration lets a destination do on this host, never the API: the
    reload commands a `directory` sync may name (name -> argv), and whether they run as root."""

    reload_commands: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    run_as_root: bool = False
    # Where `directory` syncs may write (Settings.sync_directories); empty: anywhere, admins only.
    directory_roots: tuple[Path, ...] = ()
    # Where a `webhook` sync may never connect (docs/security.md "Webhook syncs"): the validator's block
    # list from the same settings (blocked_networks, block_private, validation_allow_loopback).
    blocked_networks: tuple[Network, ...] = (*ALWAYS_BLOCKED, *LOOPBACK)

    def running_as_root(self) -> bool:
        return os.geteuid() == 0


@dataclass(frozen=True)
class PushResult:
    detail: str  # one line for logs, e.g. "wrote 4 files to /etc/nginx/tls"
    state: dict[str, Any] = field(default_factory=dict)  # remembered for the next push (e.g. an ARN)


class Target(Protocol):
    """A configured destination."""

    async def push(self, bundle: Bundle, state: Mapping[str, Any]) -> PushResult:
        """Deliver `bundle`; `state` is what the previous push returned ({} the first time)."""
        ...


class Destination(Protocol):
    """One kind of destination, registered by `type_name` in acme_server.destinations."""

    type_name: str
    secret_names: tuple[str, ...]  # the secrets it accepts; stored sealed, never shown

    def admin_reason(self, config: Mapping[str, Any], host: DestinationHost) -> str | None:
        """Why `config` needs an admin, because it makes the server act on its host (run a command,
        connect elsewhere, write where it likes), or None (services/delivery/syncs.py checks the role)."""
        ...

    def configure(
        self, config: Mapping[str, Any], secrets: Mapping[str, str], host: DestinationHost
    ) -> Target:
        """A Target for `config` on `host`; InvalidSetting naming the field (e.g. "config.path") when
        invalid."""
        ...


def read_tags(value: object) -> tuple[tuple[str, str], ...]:
    """`config.tags`: an object of tag names to string values (aws-acm, azure-keyvault)."""
    if not isinstance(value, Mapping):
        raise InvalidSetting("config.tags", "must be an object of tag names to values")
    return tuple((str(k), read_string(v, f"config.tags.{k}")) for k, v in value.items())


def read_secrets(secrets: Mapping[str, str], names: tuple[str, ...]) -> dict[str, str]:
    """A destination's secrets: only `names`, each a string (the values are never part of an error)."""
    for name, value in secrets.items():
        if name not in names:
            raise InvalidSetting(f"secrets.{name}", f"unknown secret; use {', '.join(names)}")
        read_string(value, f"secrets.{name}")
    return dict(secrets)
