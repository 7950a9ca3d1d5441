"""External account binding on newAccount (RFC 8555 §7.3.4): the directory's profile scope, the
binding JWS parsed, its MAC verified with the key the kid names, and whether that key may bind here.
The operator's side of the keys is eab.py."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from acme_server.errors import (
    ExternalAccountRequired,
    Malformed,
    Unauthorized,
)
from acme_server.services.runtime import Runtime
from acme_server.storage import EABKeyRecord
from ca_core.errors import CAError
from ca_core.jose import JWK, BadSignature, b64decode, load_json, parse_jwk, verify_hs256
from ca_core.keyprotect import unseal


@dataclass(frozen=True)
class DirectoryProfile:
    """The profile a per-profile directory (/acme/profiles/NAME/...) forces."""

    id: str
    name: str
    require_eab: bool


def check_binding_optional(scope: DirectoryProfile | None, *, eab_required: bool) -> None:
    if eab_required:
        raise ExternalAccountRequired("this server requires an external account binding")
    if scope is not None and scope.require_eab:
        raise ExternalAccountRequired(f"profile {scope.name!r} requires an external account binding")


def eab_context(kid: str) -> bytes:
    """Associated data of a sealed EAB HMAC key: a sealed blob moved to another kid fails to open."""
    return b"eab-hmac:" + kid.encode()


@dataclass(frozen=True)
class _Binding:
    """A syntactically valid externalAccountBinding JWS (§7.3.4), not yet verified."""

    kid: str
    url: object
    jwk: JWK
    signing_input: bytes
    signature: bytes


def _parse_binding(binding: Mapping[str, Any]) -> _Binding:
    """§7.3.4 steps 1-3 as syntax: a flattened JWS, alg HS256, a kid, no nonce, a public JWK payload.
    What breaks the form is malformed; what fails to authenticate is unauthorized (verify_binding)."""
    parts = [binding.get(name) for name in ("protected", "payload", "signature")]
    if not all(isinstance(part, str) for part in parts):
        raise Malformed("externalAccountBinding is not a flattened JWS")
    protected_b64, payload_b64, signature_b64 = (str(part) for part in parts)
    try:
        protected = load_json(b64decode(protected_b64))  # depth-limited, as the outer JWS
        payload = b64decode(payload_b64)
        signature = b64decode(signature_b64)
    except CAError:
        raise Malformed("externalAccountBinding is not a flattened JWS") from None
    if not isinstance(protected, dict) or protected.get("alg") != "HS256":
        raise Malformed("externalAccountBinding must use alg HS256")
    if "nonce" in protected:
        raise Malformed("externalAccountBinding must not carry a nonce (RFC 8555 §7.3.4)")
    kid = protected.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Malformed("externalAccountBinding needs the kid of the external account key")
    try:
        bound_key = parse_jwk(load_json(payload))
    except CAError:
        raise Malformed("externalAccountBinding payload is not a public JWK") from None
    return _Binding(
        kid=kid,
        url=protected.get("url"),
        jwk=bound_key,
        signing_input=f"{protected_b64}.{payload_b64}".encode(),
        signature=signature,
    )


async def verify_binding(
    rt: Runtime, document: Mapping[str, Any], *, jwk: JWK, url: str, scope: DirectoryProfile | None
) -> str:
    """§7.3.4: the MAC verifies with the key the kid names, then the binding may be used here. The
    MAC comes first so that nobody without the HMAC key learns whether a kid is spent or scoped."""
    binding = _parse_binding(document)
    async with rt.storage.read() as tx:
        key = await tx.eab.get(binding.kid)
    if key is None:
        raise Unauthorized(f"unknown external account key {binding.kid!r}")
    secret = unseal(rt.kek, key.sealed_hmac, context=eab_context(binding.kid))
    try:
        verify_hs256(secret, binding.signing_input, binding.signature)
    except BadSignature as exc:
        raise Unauthorized(exc.detail) from None
    _check_binding_use(binding, key, jwk, url, scope)
    return binding.kid


def _check_binding_use(
    binding: _Binding, key: EABKeyRecord, jwk: JWK, url: str, scope: DirectoryProfile | None
) -> None:
    if binding.url != url:
        raise Unauthorized("externalAccountBinding url does not match the newAccount URL")
    if binding.jwk.thumbprint != jwk.thumbprint:
        raise Unauthorized("externalAccountBinding binds a different key than the request's")
    if key.disabled_at is not None:
        raise Unauthorized(f"external account key {binding.kid!r} is disabled")
    if key.is_full:
        raise Unauthorized(
            f"external account key {binding.kid!r} is already bound to an account"
            if key.max_accounts == 1
            else f"external account key {binding.kid!r} has bound all the {key.max_accounts} accounts it may"
        )
    # A key made for profile P works on the default directory and on P's; not on another profile's.
    if scope is not None and key.profile_id not in (None, scope.id):
        raise Unauthorized(f"external account key {binding.kid!r} is for another profile, not {scope.name!r}")
