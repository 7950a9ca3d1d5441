"""The python-pkcs11 binding: load the module, log in to a token once per process, find or generate a
CA key pair in it, and sign digests with the key (ca_core.tokens.TokenSession). Private keys are
generated inside the token, sensitive and not extractable: they never leave it."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import pkcs11
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pkcs11 import Attribute, KeyType, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

from acme_server.errors import BadTokenURI, HSMError, HSMNotConfigured
from acme_server.hsm.uri import TokenURI
from ca_core.keys import KeyAlgorithm, PublicKey, checked_public_key
from ca_core.tokens import Mechanism

if TYPE_CHECKING:
    from pkcs11._pkcs11 import lib as Library

SOFTHSM2_MODULE: Final = "/usr/lib/softhsm/libsofthsm2.so"
_MECHANISMS: Final = {Mechanism.ECDSA: pkcs11.Mechanism.ECDSA, Mechanism.RSA_PKCS: pkcs11.Mechanism.RSA_PKCS}
_CURVES: Final = {KeyAlgorithm.EC_prime256v1: "secp256r1", KeyAlgorithm.EC_secp384r1: "secp384r1"}
_RSA_BITS: Final = {KeyAlgorithm.RSA_2048: 2048, KeyAlgorithm.RSA_3072: 3072, KeyAlgorithm.RSA_4096: 4096}
# The session went away under us (token reinserted, HSM restarted): log in again once, then give up.
_LOST_SESSION: Final = (p11.SessionHandleInvalid, p11.SessionClosed, p11.DeviceRemoved, p11.TokenNotPresent)
_KEY_ID_BYTES: Final = 16


def default_module() -> str | None:
    """SoftHSM2's module when it is installed: what --pkcs11-module defaults to."""
    return SOFTHSM2_MODULE if os.path.exists(SOFTHSM2_MODULE) else None


class Pkcs11Key:
    """One CA key pair in a token: signs digests (ca_core.tokens.TokenSession); `uri` names it exactly."""

    def __init__(self, module: Pkcs11Module, uri: TokenURI, public_key: PublicKey) -> None:
        self._module = module
        self.uri = uri
        self.public_key = public_key

    def sign(self, data: bytes, mechanism: Mechanism) -> bytes:
        return self._module.sign(self.uri, data, mechanism)


# PKCS#11 logs a whole process in to a token (a second C_Login fails with USER_ALREADY_LOGGED_IN), so the
# logged-in sessions belong to the process, not to one Runtime: (module, token) -> session. One lock:
# a session runs one operation at a time, and signatures come from worker threads.
_SESSIONS: dict[tuple[str, str], pkcs11.Session] = {}
_LOCK = threading.Lock()


class Pkcs11Module:
    """A PKCS#11 module as one Runtime uses it: the module path, where the PIN comes from, and the
    private-key handles found so far (the sessions are the process's, above)."""

    def __init__(self, path: str | None, pin: Callable[[], str]) -> None:
        self.path = path
        self._pin = pin
        self._lock = _LOCK
        self._lib: Library | None = None
        self._keys: dict[TokenURI, pkcs11.SignMixin] = {}

    def open_key(self, uri: TokenURI) -> Pkcs11Key:
        """The existing key `uri` names; HSMError when the token, the PIN or the key is wrong."""
        with self._lock:
            return self._existing(self._session(uri), uri)

    def open_or_generate(self, uri: TokenURI, algorithm: KeyAlgorithm) -> Pkcs11Key:
        """The key `uri` names, generated in the token (label = object, a fresh random id unless the URI
        gives one) when there is none yet."""
        with self._lock:
            session = self._session(uri)
            if self._find(session, ObjectClass.PRIVATE_KEY, uri):
                return self._existing(session, uri)
            exact = uri if uri.id is not None else uri.with_id(os.urandom(_KEY_ID_BYTES))
            public, private = _generate(session, exact, algorithm)
            self._keys[exact] = private
            return Pkcs11Key(self, exact, _to_cryptography(public))

    def sign(self, uri: TokenURI, data: bytes, mechanism: Mechanism) -> bytes:
        with self._lock:
            try:
                return self._sign(uri, data, mechanism)
            except _LOST_SESSION:
                _SESSIONS.pop((self.path or "", _token_key(uri)), None)
                self._keys.clear()
            try:
                return self._sign(uri, data, mechanism)
            except _LOST_SESSION as exc:
                raise HSMError(f"token {uri.token!r}: the session was lost ({type(exc).__name__})") from None

    def _sign(self, uri: TokenURI, data: bytes, mechanism: Mechanism) -> bytes:
        private = self._keys.get(uri)
        if private is None:
            private = self._private_key(self._session(uri), uri)
            self._keys[uri] = private
        try:
            return bytes(private.sign(data, mechanism=_MECHANISMS[mechanism]))
        except _LOST_SESSION:
            raise
        except p11.PKCS11Error as exc:
            raise HSMError(f"token {uri.token!r}: signing failed ({type(exc).__name__})") from None

    def _existing(self, session: pkcs11.Session, uri: TokenURI) -> Pkcs11Key:
        """The key pair `uri` names, with the URI made exact (the token's CKA_ID added)."""
        private = self._private_key(session, uri)
        key_id = bytes(private[Attribute.ID] or b"")
        exact = uri.with_id(key_id) if uri.id is None and key_id else uri
        self._keys[exact] = private
        return Pkcs11Key(self, exact, self._public_key(session, exact))

    def _library(self) -> Library:
        if self._lib is None:
            if not self.path:
                raise HSMNotConfigured(
                    "no PKCS#11 module: give --pkcs11-module PATH (or install softhsm2 for its default)"
                )
            try:
                self._lib = pkcs11.lib(self.path)  # once per module and process (C_Initialize)
            except (RuntimeError, OSError, p11.PKCS11Error) as exc:
                raise HSMError(
                    f"cannot load the PKCS#11 module {self.path}: {exc or type(exc).__name__}"
                ) from None
        return self._lib

    def _session(self, uri: TokenURI) -> pkcs11.Session:
        key = (self.path or "", _token_key(uri))
        session = _SESSIONS.get(key)
        if session is None:
            token = _find_token(self._library(), uri, self.path or "")
            try:
                session = token.open(user_pin=self._pin(), rw=True)
            except p11.PinIncorrect:
                raise HSMError(
                    f"token {uri.token!r}: the PIN is wrong (from --pkcs11-pin-file or ACME_PKCS11_PIN)"
                ) from None
            except p11.PinLocked:
                raise HSMError(
                    f"token {uri.token!r}: the user PIN is locked; the token's SO must reset it"
                ) from None
            except (p11.PinLenRange, p11.PinInvalid):
                raise HSMError(f"token {uri.token!r}: the PIN is not one this token accepts") from None
            except p11.UserPinNotInitialized:
                raise HSMError(
                    f"token {uri.token!r} has no user PIN yet; initialise the token first"
                ) from None
            except p11.PKCS11Error as exc:
                raise HSMError(f"token {uri.token!r}: cannot log in ({type(exc).__name__})") from None
            _SESSIONS[key] = session
        return session

    def _find(self, session: pkcs11.Session, object_class: ObjectClass, uri: TokenURI) -> list[Any]:
        template: dict[Attribute, Any] = {Attribute.CLASS: object_class}
        if uri.object is not None:
            template[Attribute.LABEL] = uri.object
        if uri.id is not None:
            template[Attribute.ID] = uri.id
        return list(session.get_objects(template))

    def _private_key(self, session: pkcs11.Session, uri: TokenURI) -> pkcs11.SignMixin:
        found = self._find(session, ObjectClass.PRIVATE_KEY, uri)
        if not found:
            raise BadTokenURI(f"token {uri.token!r} has no private key {_named(uri)}")
        if len(found) > 1:
            raise BadTokenURI(
                f"token {uri.token!r} has {len(found)} private keys {_named(uri)}; add id= to the URI"
            )
        private: pkcs11.SignMixin = found[0]
        return private

    def _public_key(self, session: pkcs11.Session, exact: TokenURI) -> PublicKey:
        """The public half, from the token's public-key object of the same id (and label)."""
        found = self._find(session, ObjectClass.PUBLIC_KEY, exact)
        if len(found) != 1:
            raise HSMError(
                f"token {exact.token!r}: the key {_named(exact)} has {len(found)} public-key objects, not 1"
            )
        return _to_cryptography(found[0])


def _token_key(uri: TokenURI) -> str:
    return "\0".join(str(v) for v in (uri.token, uri.serial, uri.manufacturer, uri.model))


def _find_token(lib: Library, uri: TokenURI, path: str) -> pkcs11.Token:
    try:
        tokens = [
            t
            for t in lib.get_tokens(token_label=uri.token)
            if (uri.serial is None or t.serial.decode(errors="replace").strip() == uri.serial)
            and (uri.manufacturer is None or t.manufacturer_id.strip() == uri.manufacturer)
            and (uri.model is None or t.model.strip() == uri.model)
        ]
    except p11.PKCS11Error as exc:
        raise HSMError(f"cannot list the tokens of {path} ({type(exc).__name__})") from None
    if not tokens:
        raise BadTokenURI(f"no PKCS#11 token labelled {uri.token!r} in {path}")
    if len(tokens) > 1:
        raise BadTokenURI(f"{len(tokens)} tokens are labelled {uri.token!r}; add serial= to the URI")
    token: pkcs11.Token = tokens[0]
    return token


def _named(uri: TokenURI) -> str:
    parts = [f"labelled {uri.object!r}"] if uri.object is not None else []
    if uri.id is not None:
        parts.append(f"with id {uri.id.hex()}")
    return " ".join(parts)


def _generate(
    session: pkcs11.Session, uri: TokenURI, algorithm: KeyAlgorithm
) -> tuple[pkcs11.PublicKey, pkcs11.SignMixin]:
    """A key pair stored in the token: the private half sensitive, never extractable, sign-only."""
    label = uri.object if uri.object is not None else (uri.id or b"").hex()
    public_template = {
        Attribute.TOKEN: True,
        Attribute.VERIFY: True,
        Attribute.ENCRYPT: False,
        Attribute.WRAP: False,
    }
    private_template = {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.SIGN: True,
        Attribute.DECRYPT: False,
        Attribute.UNWRAP: False,
        Attribute.DERIVE: False,
    }
    options: dict[str, Any] = {
        "store": True,
        "label": label,
        "id": uri.id,
        "public_template": public_template,
        "private_template": private_template,
    }
    try:
        if algorithm in _CURVES:
            parameters = session.create_domain_parameters(
                KeyType.EC,
                {Attribute.EC_PARAMS: encode_named_curve_parameters(_CURVES[algorithm])},
                local=True,
            )
            public, private = parameters.generate_keypair(**options)
        elif algorithm in _RSA_BITS:
            public, private = session.generate_keypair(KeyType.RSA, _RSA_BITS[algorithm], **options)
        else:
            raise BadTokenURI(
                f"{algorithm} keys cannot be generated in a token here; use EC_prime256v1, "
                "EC_secp384r1 or RSA_2048/3072/4096"
            )
    except p11.PKCS11Error as exc:
        raise HSMError(
            f"token {uri.token!r}: cannot generate a {algorithm} key ({type(exc).__name__})"
        ) from None
    if not isinstance(private, pkcs11.SignMixin):  # pragma: no cover - EC and RSA private keys sign
        raise HSMError(f"token {uri.token!r}: the generated key cannot sign")
    return public, private


def _to_cryptography(public: pkcs11.PublicKey) -> PublicKey:
    if public.key_type == KeyType.EC:
        loaded = serialization.load_der_public_key(encode_ec_public_key(public))
    elif public.key_type == KeyType.RSA:
        modulus = int.from_bytes(public[Attribute.MODULUS], "big")
        exponent = int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big")
        loaded = rsa.RSAPublicNumbers(exponent, modulus).public_key()
    else:
        raise BadTokenURI(f"the token key is {public.key_type.name}; a CA key here is EC or RSA")
    if isinstance(loaded, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        return checked_public_key(loaded)
    raise HSMError("the token's public key is neither EC nor RSA")  # pragma: no cover - checked above
