"""What every use-case needs: storage, the key-encryption key, a clock and our public URL; plus the
process-local cache of unsealed CA signers (safe: a signer is immutable for a given sealed key)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization

from acme_server.config import RateLimits, Settings
from acme_server.destinations.base import DestinationHost
from acme_server.errors import HSMError, HSMNotConfigured
from acme_server.hsm.pkcs11 import Pkcs11Module, default_module
from acme_server.hsm.uri import parse_uri
from acme_server.services.platform.keyring import load_kek, load_pkcs11_pin
from acme_server.services.ports import Clock, SystemClock
from acme_server.storage import Storage
from acme_server.validation.blocklist import Network, block_list, listening_addresses
from ca_core.keyprotect import KeyEncryptionKey, seal, seal_private_key, unseal, unseal_private_key
from ca_core.keys import PrivateKey, PublicKey, public_key_der
from ca_core.signer import Signer, SoftwareSigner
from ca_core.tokens import TokenSigner

if TYPE_CHECKING:
    from acme_server.services.config.catalog import Catalog


def key_context(public_key: PublicKey) -> bytes:
    """Associated data for a sealed key: its public key's hash, so a sealed blob moved onto another
    row (another CA or certificate) fails to open."""
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return b"private-key:" + hashlib.sha256(spki).digest()


@dataclass
class Runtime:
    storage: Storage
    kek: KeyEncryptionKey
    public_url: str
    clock: Clock = field(default_factory=SystemClock)
    _signers: dict[bytes, Signer] = field(default_factory=dict, repr=False)
    _validation_wakeup: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _push_wakeup: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    push_worker_running: bool = False  # services/delivery/pushes.py run_push_worker takes queued pushes
    # Challenge POSTs of this process waiting for their validation's outcome (services/acme/challenges.py)
    _outcome_waiters: dict[str, asyncio.Event] = field(default_factory=dict, repr=False)
    profile_names: dict[str, str] = field(default_factory=dict, repr=False)  # id -> name; names never change
    catalog: Catalog | None = field(default=None, repr=False)  # services/config/catalog.py owns it
    # Where relying parties fetch CRLs and OCSP (plain HTTP, RFC 5280 §4.2.1.13); "": the public URL.
    status_url: str = ""
    ocsp_responder: str = "ca"  # "ca" | "delegated": who signs OCSP responses
    processing_lease: float = 60.0  # seconds before a `processing` order counts as abandoned
    # What a sync destination may do on this host: the configured reload commands, and whether they
    # run when the server is root (Settings.reload_commands / reload_as_root).
    host: DestinationHost = field(default_factory=DestinationHost)
    rate_limits: RateLimits = field(default_factory=RateLimits)  # services/platform/rate_limits.py
    # Process-local status data: the newest CRL per CA, delegated OCSP responders (services/status/crls.py,
    # ocsp.py)
    status_cache: dict[object, object] = field(default_factory=dict, repr=False)
    # The CAA issuer domain names of this CA (Settings.caa_identities): what a dns-persist-01
    # record must name (draft-ietf-acme-dns-persist §3.1 issuerDomainNames).
    issuer_domain_names: tuple[str, ...] = ()
    # An account's URL with "{account_id}" to fill in; the web layer (acme/links.py) sets it, since
    # only it builds ACME URLs. The VA needs it for CAA accounturi and the account-bound challenges.
    account_url_template: str | None = None
    account_hash_prefix: str | None = None  # draft-ietf-acme-dns-persist-02 §4.1, set with the above
    # CA keys in a PKCS#11 token (docs/key-protection.md): the module, logged in on first use.
    pkcs11: Pkcs11Module = field(default_factory=lambda: Pkcs11Module(None, _no_pin), repr=False)

    def account_url(self, account_id: str) -> str | None:
        if self.account_url_template is None:
            return None
        return self.account_url_template.format(account_id=account_id)

    def wake_validators(self) -> None:
        """A challenge was queued in this process: let its validation worker look now."""
        self._validation_wakeup.set()

    async def wait_for_outcome(self, challenge_id: str, timeout: float) -> None:
        """Until the validation of `challenge_id` is recorded in this process, or `timeout` seconds
        (another process may validate it; the caller reads the outcome from storage either way)."""
        event = self._outcome_waiters.setdefault(challenge_id, asyncio.Event())
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)
        finally:
            if self._outcome_waiters.get(challenge_id) is event:
                del self._outcome_waiters[challenge_id]

    def outcome_recorded(self, challenge_id: str) -> None:
        event = self._outcome_waiters.get(challenge_id)
        if event is not None:
            event.set()

    def wake_pushers(self) -> None:
        """A sync push was queued in this process: let its push worker look now."""
        self._push_wakeup.set()

    async def wait_for_push_work(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._push_wakeup.wait(), timeout)
        self._push_wakeup.clear()

    async def wait_for_validation_work(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._validation_wakeup.wait(), timeout)
        self._validation_wakeup.clear()

    def seal(self, key: PrivateKey) -> bytes:
        return seal_private_key(self.kek, key, context=key_context(key.public_key()))

    def unseal(self, sealed: bytes, public_key: PublicKey) -> PrivateKey:
        return unseal_private_key(self.kek, sealed, context=key_context(public_key))

    def seal_secret(self, secret: bytes, *, context: bytes) -> bytes:
        """Other secrets (e.g. a sync destination's credentials) sealed like private keys; `context`
        names their owner, so a blob copied onto another row fails to open."""
        return seal(self.kek, secret, context=b"secret:" + context)

    def unseal_secret(self, sealed: bytes, *, context: bytes) -> bytes:
        return unseal(self.kek, sealed, context=b"secret:" + context)

    def signer(self, sealed: bytes, public_key: PublicKey) -> Signer:
        """The CA's signer, unsealed once per process and sealed blob."""
        cache_key = hashlib.sha256(sealed).digest()
        signer = self._signers.get(cache_key)
        if signer is None:
            signer = SoftwareSigner(self.unseal(sealed, public_key))
            self._signers[cache_key] = signer
        return signer

    def token_signer(self, uri: str, public_key: PublicKey) -> Signer:
        """The signer of a CA whose key is in a PKCS#11 token, once per process and URI; the token's
        key must be the one the CA certificate names (a URI pointing elsewhere is refused)."""
        cache_key = hashlib.sha256(b"pkcs11\0" + uri.encode()).digest()
        signer = self._signers.get(cache_key)
        if signer is None:
            key = self.pkcs11.open_key(parse_uri(uri))
            if public_key_der(key.public_key) != public_key_der(public_key):
                raise HSMError(f"{uri}: the token's key is not the key of this CA's certificate")
            signer = TokenSigner(key, public_key)
            self._signers[cache_key] = signer
        return signer

    @property
    def status_base_url(self) -> str:
        """This process's status URL: what a CA created here stores (services/config/ca_creation.py)."""
        return self.status_url or self.public_url


def listen_hosts(settings: Settings) -> list[str]:
    """The hosts the server listens on (its own addresses: neither the VA nor a webhook connects there)."""
    status = settings.status_address
    return [settings.host] + ([status[0]] if status else [])


def outbound_block_list(settings: Settings) -> tuple[Network, ...]:
    """Where a webhook sync may never connect: the validator's block list, from the same settings."""
    return block_list(
        allow_loopback=settings.validation_allow_loopback,
        block_private=settings.block_private,
        own_addresses=listening_addresses(listen_hosts(settings)),
        extra=settings.blocked_network_list or (),
    )


def _no_pin() -> str:
    raise HSMNotConfigured("no PKCS#11 PIN configured")


async def open_runtime(settings: Settings, *, read_only: bool = False) -> Runtime:
    """Storage opened (migrations run), the KEK loaded or created; the caller closes rt.storage.
    read_only (the status sidecar): neither migrate nor create a KEK; both must exist already."""
    kek = load_kek(settings.kek_path, settings.kek, create=not read_only)
    storage = await Storage.open(
        settings.database_url,
        migrate=not read_only,
        busy_timeout=settings.database_busy_timeout,
        status_url=settings.status_public_url,
    )
    return Runtime(
        storage=storage,
        kek=kek,
        public_url=settings.public_url,
        status_url=settings.status_public_url,
        ocsp_responder=settings.ocsp_responder,
        processing_lease=settings.processing_lease,
        rate_limits=settings.rate_limits,
        issuer_domain_names=settings.caa_identities,
        pkcs11=Pkcs11Module(
            settings.pkcs11_module or default_module(),
            lambda: load_pkcs11_pin(settings.pkcs11_pin_file, settings.pkcs11_pin),
        ),
        host=DestinationHost(
            dict(settings.reload_commands),
            run_as_root=settings.reload_as_root,
            directory_roots=tuple(Path(p) for p in settings.sync_directories),
            blocked_networks=outbound_block_list(settings),
        ),
    )
