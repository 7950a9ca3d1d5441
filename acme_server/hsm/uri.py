"""RFC 7512 PKCS#11 URIs naming a CA key: which token (label, serial, manufacturer, model) and which key
(object label and/or CKA_ID). What may not come from a URI is refused, since the URI is stored with
the CA: a PIN (it comes from --pkcs11-pin-file or ACME_PKCS11_PIN) and a module to load (it comes from
--pkcs11-module, so a database row never chooses code to run)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, unquote_to_bytes

from acme_server.errors import BadTokenURI

SCHEME: Final = "pkcs11:"
_TOKEN_ATTRIBUTES: Final = ("token", "serial", "manufacturer", "model")
_KEY_ATTRIBUTES: Final = ("object", "id", "type")
_REFUSED: Final = {
    "pin-value": "a PIN never goes into the URI (it is stored with the CA); "
    "use --pkcs11-pin-file or ACME_PKCS11_PIN",
    "pin-source": "the PIN comes from --pkcs11-pin-file or ACME_PKCS11_PIN, not from the URI",
    "module-path": "the PKCS#11 module comes from --pkcs11-module, not from the URI",
    "module-name": "the PKCS#11 module comes from --pkcs11-module, not from the URI",
}
# RFC 7512 §2.3 pk11-pchar without '%': what a path value may hold unescaped.
_SAFE: Final = "-._~:[]@!$'()*+,="


@dataclass(frozen=True)
class TokenURI:
    """A parsed `pkcs11:` URI; `token` (the label) is required, and `object` or `id` names the key."""

    token: str
    object: str | None = None
    id: bytes | None = None
    serial: str | None = None
    manufacturer: str | None = None
    model: str | None = None

    def __str__(self) -> str:
        """The canonical form stored with the CA: token attributes, then the key's, type=private."""
        parts = [f"token={quote(self.token, safe=_SAFE)}"]
        for name in ("serial", "manufacturer", "model"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={quote(value, safe=_SAFE)}")
        if self.object is not None:
            parts.append(f"object={quote(self.object, safe=_SAFE)}")
        if self.id is not None:
            parts.append("id=" + "".join(f"%{b:02x}" for b in self.id))
        parts.append("type=private")
        return SCHEME + ";".join(parts)

    def with_id(self, key_id: bytes) -> TokenURI:
        return TokenURI(self.token, self.object, key_id, self.serial, self.manufacturer, self.model)


def _text(name: str, raw: str) -> str:
    try:
        return unquote_to_bytes(raw).decode()
    except UnicodeDecodeError:
        raise BadTokenURI(f"pkcs11 URI: {name} is not UTF-8 text") from None


def _attributes(text: str, *, where: str) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for item in filter(None, text.split(";" if where == "path" else "&")):
        name, sep, value = item.partition("=")
        if not sep:
            raise BadTokenURI(f"pkcs11 URI: {item!r} is not name=value")
        if name in _REFUSED:
            raise BadTokenURI(f"pkcs11 URI: {_REFUSED[name]}")
        if where == "query" or name not in (*_TOKEN_ATTRIBUTES, *_KEY_ATTRIBUTES):
            raise BadTokenURI(
                f"pkcs11 URI: unknown attribute {name!r} (use token, object, id, serial, manufacturer, model)"
            )
        if name in attributes:
            raise BadTokenURI(f"pkcs11 URI: {name} is given twice")  # RFC 7512 §2.3: at most once
        attributes[name] = value
    return attributes


def parse_uri(text: str) -> TokenURI:
    """A `pkcs11:token=...;object=...` URI, or BadTokenURI naming what is wrong with it."""
    if not text.startswith(SCHEME):
        raise BadTokenURI(
            "pkcs11 URI: must start with 'pkcs11:' (RFC 7512), e.g. pkcs11:token=ca;object=root"
        )
    path, _, query = text[len(SCHEME) :].partition("?")
    attributes = _attributes(path, where="path")
    _attributes(query, where="query")
    if attributes.get("type", "private") != "private":
        raise BadTokenURI("pkcs11 URI: a CA key is type=private")
    if "token" not in attributes:
        raise BadTokenURI("pkcs11 URI: name the token, e.g. pkcs11:token=ca;object=root")
    if "object" not in attributes and "id" not in attributes:
        raise BadTokenURI("pkcs11 URI: name the key with object=LABEL (and/or id=%01%02...)")
    key_id = unquote_to_bytes(attributes["id"]) if "id" in attributes else None
    if key_id == b"":
        raise BadTokenURI("pkcs11 URI: id is empty")
    texts = {name: _text(name, attributes[name]) for name in attributes if name not in ("id", "type")}
    return TokenURI(
        token=texts["token"],
        object=texts.get("object"),
        id=key_id,
        serial=texts.get("serial"),
        manufacturer=texts.get("manufacturer"),
        model=texts.get("model"),
    )
