"""The JWS parser (acme_server/acme/jws.py and ca_core.jose under it) for arbitrary input: every check
of the pipeline either passes or raises one of its documented CAError kinds, never anything else."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import example, given
from hypothesis import strategies as st

from acme_server.acme.jws import (
    check_algorithm,
    check_url,
    json_object,
    parse_flattened,
    parse_protected,
)
from acme_server.errors import BadSignatureAlgorithm, Malformed, Unauthorized
from ca_core.errors import BadPublicKey, CAError
from ca_core.jose import (
    ALGORITHMS,
    MAX_JSON_DEPTH,
    BadSignature,
    UnsupportedAlgorithm,
    b64encode,
    jwk_of,
    load_json,
    parse_jwk,
    verify_signature,
)
from ca_core.keys import KeyAlgorithm, generate_key
from tests.property.strategies import B64URL_LIKE, BASE64URL_OF_BYTES, JSON, JSON_OBJECTS

_KEYS = {
    algorithm: jwk_of(generate_key(algorithm).public_key())
    for algorithm in (KeyAlgorithm.EC_prime256v1, KeyAlgorithm.RSA_2048, KeyAlgorithm.ED25519)
}


def _encoded(value: Any) -> str:
    return b64encode(json.dumps(value).encode())


@given(st.binary(max_size=200) | JSON.map(lambda v: json.dumps(v).encode()))
def test_load_json_returns_a_value_or_raises_caerror(raw: bytes) -> None:
    try:
        load_json(raw)
    except CAError as error:
        assert type(error) is CAError


@given(st.integers(min_value=1, max_value=64), st.sampled_from(["[", '{"a":']))
def test_json_deeper_than_the_limit_is_refused(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    text = opener * depth + "0" + closer * depth
    if depth > MAX_JSON_DEPTH:
        with pytest.raises(CAError, match="nested deeper"):
            load_json(text)
    else:
        assert load_json(text) is not None


# A flattened JWS: the three members (each a string or not), sometimes with extras.
_MEMBER = B64URL_LIKE | JSON
_FLATTENED = st.fixed_dictionaries(
    {}, optional={"protected": _MEMBER, "payload": _MEMBER, "signature": _MEMBER, "header": JSON}
) | st.fixed_dictionaries({"signatures": st.lists(JSON_OBJECTS, max_size=2)}, optional={"payload": _MEMBER})


@given(st.binary(max_size=120) | (_FLATTENED | JSON).map(lambda v: json.dumps(v).encode()))
def test_parse_flattened_accepts_only_the_three_string_members(body: bytes) -> None:
    try:
        jws = parse_flattened(body)
    except Malformed:
        return
    assert set(jws) == {"protected", "payload", "signature"}
    assert all(isinstance(value, str) for value in jws.values())


# Protected headers: arbitrary objects, and ones built from the members ACME reads.
_HEADER = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.sampled_from([*ALGORITHMS, "none", "HS256", "es256"]) | JSON,
        "nonce": B64URL_LIKE | JSON,
        "url": st.just("https://ca.test/acme/new-order") | JSON,
        "kid": st.text(max_size=40) | JSON,
        "jwk": st.sampled_from([k.to_json() for k in _KEYS.values()]) | JSON_OBJECTS,
        "b64": JSON,
        "crit": JSON,
    },
)


@given((_HEADER | JSON_OBJECTS | JSON).map(_encoded) | B64URL_LIKE | BASE64URL_OF_BYTES)
def test_parse_protected_and_the_header_checks_raise_only_their_problems(protected: str) -> None:
    jws = {"protected": protected, "payload": "", "signature": ""}
    try:
        header = parse_protected(jws)
        alg = check_algorithm(header)
        url = check_url(header, "https://ca.test/acme/new-order")
    except (Malformed, BadSignatureAlgorithm, Unauthorized) as error:
        assert error.detail
        return
    assert alg in ALGORITHMS and url == "https://ca.test/acme/new-order"
    assert header.get("b64", True) is True and not header.get("crit")


@given(B64URL_LIKE | BASE64URL_OF_BYTES | JSON.map(_encoded))
def test_json_object_raises_malformed_for_anything_but_an_object(encoded: str) -> None:
    try:
        assert isinstance(json_object(encoded, what="the payload"), dict)
    except Malformed as error:
        assert error.detail.startswith("the payload")


def _jwk_members() -> st.SearchStrategy[dict[str, Any]]:
    """JWKs near valid ones: real keys' members replaced by arbitrary values, or arbitrary objects."""
    member_value = BASE64URL_OF_BYTES | B64URL_LIKE | JSON
    near = st.sampled_from([k.to_json() for k in _KEYS.values()]).flatmap(
        lambda jwk: st.dictionaries(st.sampled_from([*jwk, "d", "kty", "crv"]), member_value, max_size=3).map(
            lambda changes: {**jwk, **changes}
        )
    )
    return near | JSON_OBJECTS


@given(_jwk_members() | JSON)
@example({"kty": [], "crv": "P-256"})  # was a TypeError, a 500 on newAccount
def test_parse_jwk_returns_a_key_or_raises_bad_public_key(jwk: Any) -> None:
    try:
        parsed = parse_jwk(jwk)
    except BadPublicKey as error:
        assert error.detail
        return
    assert parsed.members["kty"] in ("RSA", "EC", "OKP") and "d" not in parsed.members
    assert parse_jwk(parsed.to_json()).thumbprint == parsed.thumbprint


@given(
    st.sampled_from(list(_KEYS.values())),
    st.sampled_from([*ALGORITHMS, "none", "HS256"]) | JSON,
    st.binary(max_size=64),
    st.binary(max_size=600),
)
@example(jwk=_KEYS[KeyAlgorithm.ED25519], alg=[], signing_input=b"", signature=b"")  # was a TypeError
def test_verify_signature_of_arbitrary_bytes_raises_bad_signature(
    jwk: Any, alg: Any, signing_input: bytes, signature: bytes
) -> None:
    with pytest.raises((BadSignature, UnsupportedAlgorithm)):
        verify_signature(alg, jwk, signing_input, signature)


@given(st.binary(max_size=64), st.binary(min_size=64, max_size=64))
def test_a_forged_es256_signature_never_verifies(signing_input: bytes, signature: bytes) -> None:
    key = _KEYS[KeyAlgorithm.EC_prime256v1]
    assert isinstance(key.key, ec.EllipticCurvePublicKey)
    with pytest.raises(BadSignature):
        verify_signature("ES256", key, signing_input, signature)
