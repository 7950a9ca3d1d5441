"""ACME account use-cases (RFC 8555 §7.3): register (with external account binding, §7.3.4, on the
default or a per-profile directory), look up by key or id, update contacts, deactivate, and roll the
key over."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from acme_server.errors import (
    AccountDoesNotExist,
    AccountNotValid,
    Conflict,
    InvalidContact,
    KeyInUse,
    Malformed,
    NotFound,
    Unauthorized,
    UnsupportedContact,
)
from acme_server.services.acme import bindings
from acme_server.services.acme.bindings import DirectoryProfile
from acme_server.services.acme.nonces import Nonces
from acme_server.services.config import catalog
from acme_server.services.platform import audit, rate_limits
from acme_server.services.runtime import Runtime
from acme_server.statuses import AccountStatus
from acme_server.storage import AccountRecord
from ca_core.errors import InvalidIdentifier
from ca_core.jose import JWK, parse_jwk
from ca_core.names import check_email


@dataclass(frozen=True)
class Account:
    id: str
    status: str  # valid | deactivated | revoked
    contacts: tuple[str, ...]
    terms_agreed: bool
    jwk: JWK
    eab_kid: str | None
    created_at: datetime

    @property
    def is_valid(self) -> bool:
        return self.status == AccountStatus.VALID


# Parsed account keys by RFC 7638 thumbprint. A thumbprint names exactly one key, so an entry can never
# be stale: keyChange stores a new thumbprint with the new key. The account row itself is still read on
# every request (in the nonce's transaction, so it costs no round trip) because its status must be
# current — a deactivated account is refused at once in every worker and replica.
_KEYS: dict[str, JWK] = {}
_KEYS_MAX = 10_000


def _stored_key(record: AccountRecord) -> JWK:
    key = _KEYS.get(record.jwk_thumbprint)
    if key is None:
        key = parse_jwk(record.jwk)
        if len(_KEYS) >= _KEYS_MAX:
            _KEYS.clear()
        _KEYS[record.jwk_thumbprint] = key
    return key


def _account(record: AccountRecord) -> Account:
    return Account(
        id=record.id,
        status=record.status,
        contacts=tuple(record.contacts),
        terms_agreed=record.terms_agreed,
        jwk=_stored_key(record),
        eab_kid=record.eab_kid,
        created_at=record.created_at,
    )


MAX_CONTACTS = 10  # docs/security.md "Size limits"
MAX_CONTACT_LENGTH = 330  # "mailto:" and the 320 characters an e-mail address may have (RFC 3696)


def check_contacts(contacts: Any) -> tuple[str, ...]:
    """§7.3: mailto: URLs with one plain address each (no hfields), as Boulder and Pebble accept."""
    if contacts is None:
        return ()
    if not isinstance(contacts, list) or not all(isinstance(c, str) for c in contacts):
        raise Malformed("contact must be an array of URL strings")
    if len(contacts) > MAX_CONTACTS:
        raise Malformed(f"an account may have at most {MAX_CONTACTS} contacts, not {len(contacts)}")
    for contact in contacts:
        if len(contact) > MAX_CONTACT_LENGTH:
            raise InvalidContact(f"a contact is at most {MAX_CONTACT_LENGTH} characters long")
        scheme, _, address = contact.partition(":")
        if scheme.lower() != "mailto":
            raise UnsupportedContact(f"contact {contact!r}: only mailto: contacts are supported")
        if "?" in address or "," in address or not address:
            raise InvalidContact(f"contact {contact!r}: give one e-mail address without parameters")
        try:
            check_email(address)
        except InvalidIdentifier as exc:
            raise InvalidContact(f"contact {contact!r}: {exc.detail}") from None
    return tuple(contacts)


class AccountOwned(Protocol):
    """A record an ACME account owns (an order, an authorization)."""

    @property
    def account_id(self) -> str: ...


OwnedRecord = TypeVar("OwnedRecord", bound=AccountOwned)


def owned(record: OwnedRecord | None, account: Account, kind: str, key: str) -> OwnedRecord:
    """The record, when it is the account's. A missing one is NotFound; another account's is
    unauthorized (docs/acme-divergences.md). The one owner check of every ACME resource."""
    if record is None:
        raise NotFound(kind, key)
    if record.account_id != account.id:
        raise Unauthorized(f"this {kind} belongs to another account")
    return record


async def find_by_key(rt: Runtime, jwk: JWK) -> Account | None:
    async with rt.storage.read() as tx:
        record = await tx.accounts.get_by_thumbprint(jwk.thumbprint)
    return _account(record) if record else None


async def redeem_nonce_and_load(
    rt: Runtime, nonces: Nonces, nonce: str, account_id: str | None
) -> Account | None:
    """Read the account the request's kid names (one statement, no writer lock), then use the
    request's nonce (one cheap write to the store of used nonces). An unknown account is refused
    first, so its nonce stays unused."""
    record = None
    if account_id is not None:
        async with rt.storage.read_one() as tx:  # one statement: no transaction needed
            record = await tx.accounts.get(account_id)
        if record is None:
            raise AccountDoesNotExist(f"no account {account_id!r}")
    await nonces.redeem(rt.storage, nonce, rt.clock.now())
    return None if record is None else _account(record)


async def get_account(rt: Runtime, account_id: str) -> Account:
    """The account a `kid` names (§6.2); unknown ids are accountDoesNotExist."""
    async with rt.storage.read() as tx:
        record = await tx.accounts.get(account_id)
    if record is None:
        raise AccountDoesNotExist(f"no account {account_id!r}")
    return _account(record)


async def list_accounts(rt: Runtime, *, limit: int, offset: int) -> tuple[list[Account], int]:
    """One page of accounts, newest first, and the total (the UI's accounts page)."""
    async with rt.storage.read() as tx:
        records, total = await tx.accounts.list(limit=limit, offset=offset)
    return [_account(record) for record in records], total


async def find_account(rt: Runtime, account_id: str) -> Account:
    """get_account for an operator looking one up: an unknown id is NotFound, not an ACME problem."""
    try:
        return await get_account(rt, account_id)
    except AccountDoesNotExist:
        raise NotFound("ACME account", account_id) from None


async def deactivate_by_id(rt: Runtime, account_id: str) -> Account:
    """An operator deactivating an account (RFC 8555 §7.3.6 effect: final; its requests are refused
    from now on); one already deactivated or revoked stays as it is."""
    return await deactivate_account(rt, await find_account(rt, account_id))


@dataclass(frozen=True)
class NewAccount:
    jwk: JWK
    contacts: tuple[str, ...]
    terms_agreed: bool
    only_return_existing: bool
    external_binding: Mapping[str, Any] | None
    new_account_url: str


async def directory_profile(rt: Runtime, ref: str) -> DirectoryProfile:
    """The profile of a per-profile directory, by name (or id); NotFound (404) for an unknown one."""
    profile_id, profile = (await catalog.current(rt)).profile(ref)
    return DirectoryProfile(id=profile_id, name=profile.name, require_eab=profile.require_eab)


async def eab_required_for(rt: Runtime, profile: str | None, global_flag: bool) -> bool:
    """meta.externalAccountRequired (§7.1.1, §7.3.4) of the default directory (`profile` None: the
    server-wide flag) or of one profile's directory (the flag, or the profile's requireEab).
    NotFound for an unknown profile, as the directory answers it."""
    if profile is None:
        return global_flag
    required = (await directory_profile(rt, profile)).require_eab  # NotFound first, flag or not
    return global_flag or required


async def new_account(
    rt: Runtime,
    request: NewAccount,
    *,
    eab_required: bool,
    profile: str | None = None,
    terms_required: bool = False,
    client_ip: str | None = None,
) -> tuple[Account, bool]:
    """(account, created). An existing key returns its account unchanged (§7.3.1), even when the
    directory requires EAB or the request carries a binding again (what cert-manager relies on).
    `profile`: the per-profile directory the request came through (None: the default directory).
    `client_ip`: whom the new-accounts-per-IP limit counts (docs/security.md "Rate limits")."""
    scope = await directory_profile(rt, profile) if profile is not None else None
    existing = await find_by_key(rt, request.jwk)
    if existing is not None:
        if not existing.is_valid:
            # RFC 8555 §7.3.6: a deactivated account's key authorizes nothing, onlyReturnExisting
            # included; 401 as for its kid requests (acme/jws.py).
            raise AccountNotValid(f"the account for this key is {existing.status}")
        return existing, False
    if request.only_return_existing:
        raise AccountDoesNotExist("no account exists for this key")
    if terms_required and not request.terms_agreed:
        # §7.3: a server with terms of service refuses accounts that did not agree (as Boulder, Pebble).
        raise Malformed("you must agree to the terms of service (termsOfServiceAgreed: true)")
    if request.external_binding is None:
        bindings.check_binding_optional(scope, eab_required=eab_required)
        kid = None
    else:
        kid = await bindings.verify_binding(
            rt, request.external_binding, jwk=request.jwk, url=request.new_account_url, scope=scope
        )
    await rate_limits.count_new_account(rt, client_ip)  # only accounts about to be created count
    async with rt.storage.transaction() as tx:
        record = await tx.accounts.create(
            jwk_thumbprint=request.jwk.thumbprint,
            jwk=request.jwk.to_json(),
            contacts=list(request.contacts),
            terms_agreed=request.terms_agreed,
            eab_kid=kid,
        )
        # Rule 6: the conditional count decides between newAccount requests racing for a key's last
        # binding (or with its disabling); the loser's account is rolled back with this transaction.
        if kid is not None and not await tx.eab.bind(kid):
            raise Unauthorized(f"external account key {kid!r} has no binding left")
    return _account(record), True


async def update_account(rt: Runtime, account: Account, *, contacts: Sequence[str] | None) -> Account:
    if contacts is None:
        return account
    checked = list(check_contacts(list(contacts)))
    async with rt.storage.transaction() as tx:
        record = await tx.accounts.update_contacts(account.id, checked)
        if record is None:
            raise AccountDoesNotExist(f"no account {account.id!r}")
        # §7.3.2 from the ACME client itself: the account acts (an edge may have named someone else).
        detail = {"contacts": checked}
        actor = audit.current(audit.account_actor(account.id))
        await audit.record(tx, actor, "account.update_contacts", "account", account.id, detail)
    return _account(record)


async def deactivate_account(rt: Runtime, account: Account) -> Account:
    """§7.3.6: deactivation is final; later requests with this account are unauthorized."""
    async with rt.storage.transaction() as tx:
        await tx.accounts.deactivate(account.id)
        await audit.record(
            tx, audit.current(audit.account_actor(account.id)), "account.deactivate", "account", account.id
        )
        record = await tx.accounts.get(account.id)
    assert record is not None
    return _account(record)


async def change_key(rt: Runtime, account: Account, new_jwk: JWK) -> Account:
    """§7.3.5: swap the account key; a key that another account holds is a conflict (409)."""
    async with rt.storage.transaction() as tx:
        holder = await tx.accounts.get_by_thumbprint(new_jwk.thumbprint)
        if holder is not None:
            raise KeyInUse("the new key is already in use by an account", holder.id)
        if not await tx.accounts.change_key(
            account.id,
            old_thumbprint=account.jwk.thumbprint,
            new_thumbprint=new_jwk.thumbprint,
            new_jwk=new_jwk.to_json(),
        ):
            raise Conflict("the account key changed concurrently; retry")
        # §7.3.5: thumbprints (RFC 7638) of public keys only, so the row can be matched to either key.
        detail = {"oldKeyThumbprint": account.jwk.thumbprint, "newKeyThumbprint": new_jwk.thumbprint}
        actor = audit.current(audit.account_actor(account.id))
        await audit.record(tx, actor, "account.key_change", "account", account.id, detail)
        record = await tx.accounts.get(account.id)
    assert record is not None
    return _account(record)
