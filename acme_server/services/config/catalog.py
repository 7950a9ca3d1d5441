"""The configuration catalog: every CA, policy, profile and cross certificate, cached per process and
reloaded whenever the database's config generation moved (storage bumps it in the same transaction as
any change to them). Checking costs one one-row SELECT; a worker or replica therefore never issues
under a profile, policy or CA state another process has already changed.

Not for data that changes without a generation bump: CRL numbers and CA-issued certificates are read
from the database where they are needed (services/status/crls.py, services/inventory/certificates.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from acme_server.errors import NotFound
from acme_server.services.runtime import Runtime
from acme_server.storage import CARecord, CrossCertificateRecord, PolicyRecord, ProfileRecord, Tx
from ca_core.authority import CertificateAuthority
from ca_core.policy import Policy
from ca_core.profile import Profile


@dataclass
class Catalog:
    """One generation of the configuration; parsed values are memoised (records are immutable here)."""

    generation: int
    profile_records: dict[str, ProfileRecord]  # by id
    policy_records: dict[str, PolicyRecord]  # by id
    ca_records: dict[str, CARecord]  # by id
    crosses: dict[str, list[CrossCertificateRecord]]  # by ca_id, oldest first
    _profile_ids: dict[str, str] = field(default_factory=dict)  # name -> id
    _profiles: dict[str, Profile] = field(default_factory=dict)
    _policies: dict[str, Policy] = field(default_factory=dict)
    _authorities: dict[str, CertificateAuthority] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._profile_ids = {record.name: record.id for record in self.profile_records.values()}

    def profile_record(self, ref: str) -> ProfileRecord:
        """A profile by id or name; NotFound otherwise."""
        record = self.profile_records.get(ref) or self.profile_records.get(self._profile_ids.get(ref, ""))
        if record is None:
            raise NotFound("profile", ref)
        return record

    def profile(self, ref: str) -> tuple[str, Profile]:
        """(id, validated Profile) by id or name."""
        record = self.profile_record(ref)
        parsed = self._profiles.get(record.id)
        if parsed is None:
            parsed = self._profiles[record.id] = Profile.from_document(record.name, record.document)
        return record.id, parsed

    def profiles(self) -> list[tuple[str, Profile]]:
        """Every profile, oldest first (as the profiles table lists them)."""
        return [self.profile(record.id) for record in self.profile_records.values()]

    def policy(self, policy_id: str | None) -> Policy | None:
        """The policy a profile names (None: no policy, or one deleted since)."""
        if policy_id is None:
            return None
        parsed = self._policies.get(policy_id)
        if parsed is None:
            record = self.policy_records.get(policy_id)
            if record is None:
                return None
            parsed = self._policies[policy_id] = Policy.from_document(record.name, record.document)
        return parsed

    def ca_record(self, ref: str) -> CARecord:
        record = self.ca_records.get(ref) or next(
            (r for r in self.ca_records.values() if r.name == ref), None
        )
        if record is None:
            raise NotFound("CA", ref)
        return record

    def alternate_chains(self, ca_id: str) -> list[str]:
        """PEM chains (the cross-signed CA certificate, then its issuer's chain to the root) that can
        replace the primary chain of a certificate `ca_id` issued (RFC 8555 §7.4.2 alternates)."""
        chains = []
        for cross in self.crosses.get(ca_id, []):
            issuer = self.ca_records.get(cross.issuer_id)
            if issuer is not None and issuer.certificate_pem:
                chains.append(cross.certificate_pem + issuer.certificate_pem + issuer.chain_pem)
        return chains

    def authority(self, ca_id: str, build: Callable[[], CertificateAuthority]) -> CertificateAuthority:
        """The CA's authority, built once per generation (certificate parsing is not free)."""
        authority = self._authorities.get(ca_id)
        if authority is None:
            authority = self._authorities[ca_id] = build()
        return authority


async def _load(tx: Tx, generation: int) -> Catalog:
    crosses: dict[str, list[CrossCertificateRecord]] = {}
    for cross in await tx.cross_certificates.list():
        crosses.setdefault(cross.ca_id, []).append(cross)
    return Catalog(
        generation=generation,
        profile_records={record.id: record for record in await tx.profiles.list()},
        policy_records={record.id: record for record in await tx.policies.list()},
        ca_records={record.id: record for record in await tx.cas.list()},
        crosses=crosses,
    )


async def catalog_in(rt: Runtime, tx: Tx) -> Catalog:
    """The catalog as of `tx`: the cached one when the generation did not move, else reloaded inside
    `tx` (the generation is read first, so a change committed meanwhile only forces another reload)."""
    generation = await tx.config.current()
    cached = rt.catalog
    if cached is not None and cached.generation == generation:
        return cached
    loaded = await _load(tx, generation)
    rt.catalog = loaded
    return loaded


async def current(rt: Runtime) -> Catalog:
    """The catalog now, in a read transaction of its own (one query when the cache is fresh)."""
    async with rt.storage.read() as tx:
        return await catalog_in(rt, tx)
