"""JWS verification for ACME POSTs (RFC 8555 §6.2-6.5) as a pipeline of small named checks, each
raising one precise problem (ARCHITECTURE rule 3): media type, flattened syntax, protected header,
algorithm, url, key (jwk or kid), signature, nonce."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal

from starlette.requests import Request

from acme_server.acme import links
from acme_server.errors import (
    AccountDoesNotExist,
    AccountNotValid,
    BadNonce,
    BadSignatureAlgorithm,
    Malformed,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
)
from acme_server.services.acme import accounts
from acme_server.services.acme.accounts import Account
from ca_core.errors import BadPublicKey, CAError
from ca_core.jose import (
    ALGORITHMS,
    JWK,
    BadSignature,
    UnsupportedAlgorithm,
    b64decode,
    load_json,
    parse_jwk,
    verify_signature,
)

JOSE_JSON = "application/jose+json"
# The largest ACME POST we read: a finalize CSR or a revokeCert certificate with many names is a few
# KiB; anything near this is hostile, and reading it whole would cost memory per request.
MAX_BODY_BYTES = 64 * 1024
Auth = Literal["kid", "jwk", "either"]


@dataclass(frozen=True)
class VerifiedPost:
    protected: dict[str, Any]
    payload: bytes
    jwk: JWK
    account: Account | None
    url: str

    @property
    def post_as_get(self) -> bool:
        return self.payload == b""

    def require_account(self) -> Account:
        assert self.account is not None, "verify_post(auth='kid') guarantees an account"
        return self.account

    def json(self) -> dict[str, Any]:
        """The payload as a JSON object; POST-as-GET or anything else is malformed."""
        if self.post_as_get:
            raise Malformed("this request needs a JSON object payload, not POST-as-GET")
        return _object(self.payload, "the JWS payload")

    def check_post_as_get(self) -> None:
        """§6.3: a POST-as-GET has an empty payload ("")."""
        if not self.post_as_get:
            raise Malformed("POST-as-GET requests must have an empty payload")


def _object(raw: bytes, what: str) -> dict[str, Any]:
    """One JSON loader for every JWS part: depth-limited (ca_core.jose.load_json), never a 500."""
    try:
        value = load_json(raw)
    except CAError as exc:
        raise Malformed(f"{what} is not JSON: {exc.detail}") from None
    if not isinstance(value, dict):
        raise Malformed(f"{what} must be a JSON object")
    return value


def json_object(encoded: str, *, what: str) -> dict[str, Any]:
    """A base64url-encoded JSON object (a nested JWS payload)."""
    try:
        raw = b64decode(encoded)
    except CAError:
        raise Malformed(f"{what} is not base64url") from None
    return _object(raw, what)


def check_media_type(request: Request) -> None:
    """§6.2: the Content-Type MUST be application/jose+json (415 otherwise)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != JOSE_JSON:
        raise UnsupportedMediaType(f"the Content-Type must be {JOSE_JSON}")


def parse_flattened(body: bytes) -> dict[str, str]:
    """§6.2: the flattened JSON serialization only; no unprotected header, no multiple signatures."""
    jws = _object(body, "the request body")
    if "signatures" in jws:
        raise Malformed("JWS general serialization is not supported; use the flattened form")
    if "header" in jws:
        raise Malformed("JWS unprotected headers are not allowed")
    if set(jws) != {"protected", "payload", "signature"} or not all(isinstance(v, str) for v in jws.values()):
        raise Malformed("a JWS needs exactly the string members protected, payload and signature")
    return jws


def parse_protected(jws: dict[str, str]) -> dict[str, Any]:
    protected = json_object(jws["protected"], what="the JWS protected header")
    if protected.get("b64", True) is not True or protected.get("crit"):
        raise Malformed("the JWS protected header uses extensions (b64/crit) that ACME does not allow")
    return protected


def check_algorithm(protected: dict[str, Any]) -> str:
    """§6.2: MUST NOT be none or a MAC; we accept ES256/384/512, RS256 and EdDSA."""
    alg = protected.get("alg")
    if alg not in ALGORITHMS:
        raise BadSignatureAlgorithm(
            f"the JWS algorithm {alg!r} is not supported; use one of {', '.join(ALGORITHMS)}", ALGORITHMS
        )
    return str(alg)


def check_url(protected: dict[str, Any], expected: str) -> str:
    """§6.4: the url header MUST be present and equal the URL the request was sent to."""
    url = protected.get("url")
    if not isinstance(url, str):
        raise Malformed("the JWS protected header has no url")
    if url != expected:
        raise Unauthorized(f"the JWS url {url!r} does not match the request URL {expected!r}")
    return url


def key_source(request: Request, protected: dict[str, Any], auth: Auth) -> JWK | str:
    """§6.2: exactly one of jwk (newAccount, revokeCert by certificate key) or kid (everything else).
    The embedded key, or the account id the kid names (looked up with the nonce, in one transaction)."""
    has_jwk, has_kid = "jwk" in protected, "kid" in protected
    if has_jwk == has_kid:
        raise Malformed("the JWS protected header must have exactly one of jwk and kid")
    if has_jwk:
        if auth == "kid":
            raise Malformed("this request must be signed with an account key (kid), not an embedded jwk")
        try:
            return parse_jwk(protected["jwk"])
        except BadPublicKey as exc:
            raise BadPublicKey(exc.detail) from None
    if auth == "jwk":
        raise Malformed("this request must carry the key itself (jwk), not a kid")
    kid = protected["kid"]
    account_id = links.account_id_from_kid(request, kid) if isinstance(kid, str) else None
    if account_id is None:
        raise AccountDoesNotExist(f"the kid {kid!r} is not an account URL of this server")
    return account_id


def check_signature(alg: str, jwk: JWK, jws: dict[str, str]) -> None:
    signing_input = f"{jws['protected']}.{jws['payload']}".encode()
    try:
        signature = b64decode(jws["signature"])
        verify_signature(alg, jwk, signing_input, signature)
    except UnsupportedAlgorithm as exc:
        raise BadSignatureAlgorithm(exc.detail, ALGORITHMS) from None
    except BadSignature as exc:
        raise Malformed(f"JWS verification error: {exc.detail}") from None
    except CAError:
        raise Malformed("the JWS signature is not base64url") from None


def nonce_of(request: Request, protected: dict[str, Any]) -> str:
    """§6.5: the nonce must be there; the testing aid may refuse a valid one on purpose."""
    nonce = protected.get("nonce")
    if not isinstance(nonce, str) or not nonce:
        raise BadNonce("the JWS protected header has no nonce")
    rate = request.app.state.settings.test_nonce_reject_rate
    if rate and random.random() < rate:  # the client testing aid: exercise badNonce retries
        raise BadNonce("the nonce was rejected on purpose (test_nonce_reject_rate)")
    return nonce


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, read with a cap: a Content-Length over it is refused before reading, and a chunked
    or lying body is refused as soon as it passes the cap (never buffered whole)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def verify_post(request: Request, auth: Auth = "kid") -> VerifiedPost:
    check_media_type(request)
    jws = parse_flattened(await read_body(request))
    protected = parse_protected(jws)
    alg = check_algorithm(protected)
    url = check_url(protected, links.request_url(request))
    source = key_source(request, protected, auth)
    # One transaction for both: the nonce is used once (one INSERT, shared by every replica) and the
    # kid's account read, so a request costs a single database round trip before its own work.
    account = await accounts.redeem_nonce_and_load(
        links.runtime(request),
        request.app.state.nonces,
        nonce_of(request, protected),
        source if isinstance(source, str) else None,
    )
    if account is not None and not account.is_valid:
        raise AccountNotValid(f"the account is {account.status}")  # RFC 8555 §7.3.6: 401
    jwk = account.jwk if account is not None else source
    assert isinstance(jwk, JWK)
    check_signature(alg, jwk, jws)
    try:
        payload = b64decode(jws["payload"]) if jws["payload"] else b""
    except CAError:
        raise Malformed("the JWS payload is not base64url") from None
    return VerifiedPost(protected=protected, payload=payload, jwk=jwk, account=account, url=url)
