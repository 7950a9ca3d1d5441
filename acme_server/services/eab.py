"""External account binding keys (RFC 8555 §7.3.4): the operator's side — create (the HMAC key is shown
once and sealed at rest), list, delete — and whether an account's binding covers a profile."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from acme_server.errors import Conflict, NotFound
from acme_server.services import profiles
from acme_server.services.accounts import Account, eab_context
from acme_server.services.runtime import Runtime
from acme_server.storage import EABKeyRecord, Tx
from ca_core.errors import UnknownProfile
from ca_core.jose import b64encode
from ca_core.keyprotect import seal
from ca_core.profile import EnrollmentMethod, Profile

HMAC_KEY_BYTES = 32  # HS256: a key as long as the hash output (RFC 7518 §3.2)
KID_BYTES = 18  # 24 url-safe characters, 144 random bits


class NewEABKey(NamedTuple):
    """What the operator hands to the ACME client, once: the kid and the base64url HMAC key."""

    kid: str
    hmac: str  # base64url without padding, as certbot, lego and cert-manager expect


@dataclass(frozen=True)
class EABKey:
    """A key as listed: never the HMAC key itself (it is shown only when created)."""

    kid: str
    profile: str | None  # the profile's name; None: usable with every profile
    created_at: datetime
    bound_account_id: str | None
    bound_at: datetime | None

    @property
    def is_bound(self) -> bool:
        return self.bound_at is not None or self.bound_account_id is not None


def new_kid() -> str:
    """A random base64url key id that never starts with "-": shells and argument parsers (ours
    included: `acme-server eab delete KID`) would read such a kid as an option."""
    while True:
        kid = secrets.token_urlsafe(KID_BYTES)
        if not kid.startswith("-"):
            return kid


async def create_eab_key(rt: Runtime, profile: str | None) -> NewEABKey:
    """A new unbound key, optionally for one profile (id or name) that allows ACME enrollment. The
    HMAC key is sealed with the KEK under eab_context(kid), what newAccount unseals it with."""
    kid = new_kid()
    secret = secrets.token_bytes(HMAC_KEY_BYTES)
    async with rt.storage.transaction() as tx:
        profile_id = None
        if profile is not None:
            record = await profiles.find_record(tx, profile)
            if (
                EnrollmentMethod.ACME
                not in Profile.from_document(record.name, record.document).enrollment_methods
            ):
                raise UnknownProfile(f"profile {record.name!r} does not allow ACME enrollment")
            profile_id = record.id
        await tx.eab.create(
            kid=kid, profile_id=profile_id, sealed_hmac=seal(rt.kek, secret, context=eab_context(kid))
        )
    return NewEABKey(kid=kid, hmac=b64encode(secret))


async def list_eab_keys(rt: Runtime, profile: str | None = None) -> list[EABKey]:
    """Every key, oldest first; only those made for `profile` (id or name) when given."""
    async with rt.storage.read() as tx:
        profile_id = (await profiles.find_record(tx, profile)).id if profile is not None else None
        names = {record.id: record.name for record in await tx.profiles.list()}
        records = await tx.eab.list(profile_id)
    return [_key(record, names) for record in records]


def _key(record: EABKeyRecord, names: dict[str, str]) -> EABKey:
    return EABKey(
        kid=record.kid,
        profile=names.get(record.profile_id) if record.profile_id else None,
        created_at=record.created_at,
        bound_account_id=record.bound_account_id,
        bound_at=record.bound_at,
    )


async def delete_eab_key(rt: Runtime, kid: str) -> None:
    """Delete a key that was never used. A bound key stays: it is the record of how its account was
    admitted, and what lets that account order from profiles that require EAB (is_bound_for)."""
    async with rt.storage.transaction() as tx:
        record = await tx.eab.get(kid)
        if record is None:
            raise NotFound("external account key", kid)
        if record.bound_account_id is not None or record.bound_at is not None:
            raise Conflict(
                f"external account key {kid!r} is bound to account {record.bound_account_id!r}"
                " and cannot be deleted"
            )
        if not await tx.eab.delete(kid):
            raise Conflict(f"external account key {kid!r} was bound while being deleted")


async def is_bound_for(tx: Tx, account: Account, profile_id: str) -> bool:
    """True when the account was registered with an EAB key that covers this profile: the key still
    exists, is bound to this account, and was made for no profile or for this one. Anything else
    (no binding, a key for another profile, a key gone with its profile) fails closed."""
    if account.eab_kid is None:
        return False
    key = await tx.eab.get(account.eab_kid)
    return key is not None and key.bound_account_id == account.id and key.profile_id in (None, profile_id)
