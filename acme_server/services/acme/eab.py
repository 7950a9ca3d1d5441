"""External account binding keys (RFC 8555 §7.3.4): the operator's side — create (the HMAC key is shown
once and sealed at rest) with a binding limit, list and show with their bindings, disable, enable,
delete — and whether an account's binding covers a profile."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from acme_server.errors import Conflict, Malformed, NotFound
from acme_server.services.acme.accounts import Account
from acme_server.services.acme.bindings import eab_context
from acme_server.services.config import profiles
from acme_server.services.platform import audit
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
class EABBinding:
    """One account a key bound, and whether that account is still valid."""

    account_id: str
    status: str
    bound_at: datetime


@dataclass(frozen=True)
class EABKey:
    """A key as listed: never the HMAC key itself (it is shown only when created)."""

    kid: str
    profile: str | None  # the profile's name; None: usable with every profile
    created_at: datetime
    max_accounts: int | None  # None: any number
    account_count: int
    disabled_at: datetime | None
    bindings: tuple[EABBinding, ...]

    @property
    def is_bound(self) -> bool:
        return self.account_count > 0


def max_accounts(value: object) -> int | None:
    """The binding limit of a new key from the CLI (`--max-accounts 5`) or the API (`"maxAccounts": 5`):
    a whole number of at least one, or "unlimited" (None)."""
    if value == "unlimited":
        return None
    number = int(value) if isinstance(value, str) and value.isdecimal() else value
    if isinstance(number, int) and not isinstance(number, bool) and number >= 1:
        return number
    raise Malformed(f"the account limit must be a whole number of 1 or more, or 'unlimited', not {value!r}")


def new_kid() -> str:
    """A random base64url key id that never starts with "-": shells and argument parsers (ours
    included: `acme-server eab delete KID`) would read such a kid as an option."""
    while True:
        kid = secrets.token_urlsafe(KID_BYTES)
        if not kid.startswith("-"):
            return kid


async def create_eab_key(rt: Runtime, profile: str | None, limit: int | None = 1) -> NewEABKey:
    """A new unbound key, optionally for one profile (id or name) that allows ACME enrollment, that
    binds up to `limit` accounts (None: any number; default one, once). The HMAC key is sealed with
    the KEK under eab_context(kid), what newAccount unseals it with."""
    if limit is not None and limit < 1:
        raise Malformed(f"a key must be able to bind at least one account, not {limit}")
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
            kid=kid,
            profile_id=profile_id,
            sealed_hmac=seal(rt.kek, secret, context=eab_context(kid)),
            max_accounts=limit,
        )
        await audit.record(
            tx, audit.current(), "eab.create", "eab_key", kid, {"profile": profile_id, "maxAccounts": limit}
        )
    return NewEABKey(kid=kid, hmac=b64encode(secret))


async def list_eab_keys(rt: Runtime, profile: str | None = None) -> list[EABKey]:
    """Every key with its bindings, oldest first; only those made for `profile` (id or name) when given."""
    async with rt.storage.read() as tx:
        profile_id = (await profiles.find_record(tx, profile)).id if profile is not None else None
        records = await tx.eab.list(profile_id)
        return await _keys(tx, records)


async def get_eab_key(rt: Runtime, kid: str) -> EABKey:
    async with rt.storage.read() as tx:
        return (await _keys(tx, [await _record(tx, kid)]))[0]


async def _record(tx: Tx, kid: str) -> EABKeyRecord:
    record = await tx.eab.get(kid)
    if record is None:
        raise NotFound("external account key", kid)
    return record


async def _keys(tx: Tx, records: list[EABKeyRecord]) -> list[EABKey]:
    names = {record.id: record.name for record in await tx.profiles.list()}
    bindings: dict[str, list[EABBinding]] = {record.kid: [] for record in records}
    for binding in await tx.eab.bindings(list(bindings)):
        bindings[binding.kid].append(EABBinding(binding.account_id, binding.status, binding.bound_at))
    return [
        EABKey(
            kid=record.kid,
            profile=names.get(record.profile_id) if record.profile_id else None,
            created_at=record.created_at,
            max_accounts=record.max_accounts,
            account_count=record.account_count,
            disabled_at=record.disabled_at,
            bindings=tuple(bindings[record.kid]),
        )
        for record in records
    ]


async def disable_eab_key(rt: Runtime, kid: str, *, deactivate_accounts: bool = False) -> list[str]:
    """Stop the key binding new accounts. The accounts it bound keep working (and keep the profiles
    it covers) unless `deactivate_accounts`: then they are deactivated (RFC 8555 §7.3.6), in the
    same transaction; their ids are returned."""
    async with rt.storage.transaction() as tx:
        # The key row first: a newAccount binding at the same time either counted before (and its
        # account is deactivated below) or finds the key disabled.
        if not await tx.eab.set_disabled(kid, rt.clock.now()):
            raise NotFound("external account key", kid)
        deactivated = sorted(await tx.eab.deactivate_accounts(kid)) if deactivate_accounts else []
        await audit.record(
            tx, audit.current(), "eab.disable", "eab_key", kid, {"deactivatedAccounts": deactivated}
        )
        return deactivated


async def enable_eab_key(rt: Runtime, kid: str) -> None:
    """Let a disabled key bind accounts again, up to its limit."""
    async with rt.storage.transaction() as tx:
        if not await tx.eab.set_disabled(kid, None):
            raise NotFound("external account key", kid)
        await audit.record(tx, audit.current(), "eab.enable", "eab_key", kid)


async def delete_eab_key(rt: Runtime, kid: str, *, deactivate_accounts: bool = False) -> list[str]:
    """Delete a key. One that bound accounts is the record of how they were admitted, and what lets
    them order from profiles that require EAB (is_bound_for): it is deleted only together with
    deactivating them (`deactivate_accounts`; their ids are returned). To keep them, disable it."""
    async with rt.storage.transaction() as tx:
        record = await _record(tx, kid)
        if record.account_count and not deactivate_accounts:
            raise Conflict(
                f"external account key {kid!r} bound {record.account_count} account(s) and cannot be"
                " deleted without deactivating them; disable it to keep them"
            )
        if not await tx.eab.delete(kid, bound_too=deactivate_accounts):
            raise Conflict(f"external account key {kid!r} was bound while being deleted")
        # After the key row, as in disable_eab_key: a racing binding either fails or is deactivated.
        deactivated = sorted(await tx.eab.deactivate_accounts(kid)) if deactivate_accounts else []
        await audit.record(
            tx, audit.current(), "eab.delete", "eab_key", kid, {"deactivatedAccounts": deactivated}
        )
        return deactivated


async def is_bound_for(tx: Tx, account: Account, profile_id: str) -> bool:
    """True when the account was registered with an EAB key that covers this profile: the key still
    exists and was made for no profile or for this one (a disabled key still covers the accounts it
    bound). Anything else (no binding, a key for another profile, a key gone with its profile) fails
    closed."""
    if account.eab_kid is None:
        return False
    key = await tx.eab.get(account.eab_kid)
    return key is not None and key.profile_id in (None, profile_id)
