"""The CSR path (ca_core.csr.parse_csr, as finalize calls it) and the policy matcher (ca_core.policy) for
arbitrary input: a value or a documented CAError, never another exception (which would be a 500)."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from ca_core.csr import build_csr, parse_csr
from ca_core.errors import BadCSR, BadPublicKey, CAError, InvalidSetting
from ca_core.keys import KeyAlgorithm, generate_key
from ca_core.names import normalize_dns_name
from ca_core.policy import Policy, identifier_violations
from ca_core.request import Subject, SubjectAltNames
from tests.property.strategies import JSON, mutated

_CSR = build_csr(
    Subject(common_name="web.example.internal"),
    SubjectAltNames(dns=("web.example.internal", "api.example.internal")),
    generate_key(KeyAlgorithm.EC_prime256v1),
).public_bytes(Encoding.DER)
_POLICY = Policy.from_document(
    "web", {"altNames": {"dns": {"allowed": ["**.example.internal"], "denied": ["admin.example.internal"]}}}
)
_LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-*", min_size=1, max_size=12)
_NAMES = st.lists(_LABEL, min_size=1, max_size=5).map(".".join)


@given(mutated(_CSR))
def test_a_mutated_der_csr_parses_or_raises_bad_csr_or_bad_public_key(der: bytes) -> None:
    try:
        request = parse_csr(der, der_only=True)
    except (BadCSR, BadPublicKey):
        return
    # Whatever got through verified its signature: the names are those that were signed.
    assert request.sans.dns == ("web.example.internal", "api.example.internal")


@given(st.binary(max_size=300))
def test_arbitrary_bytes_as_a_csr_raise_only_bad_csr_or_bad_public_key(data: bytes) -> None:
    try:
        request = parse_csr(data)
    except (BadCSR, BadPublicKey) as error:
        assert error.detail  # a refusal a client can read, never an unhandled exception
    else:  # bytes that happen to be a valid CSR: a request with a public key
        assert request.public_key is not None


@given(
    st.dictionaries(
        st.sampled_from(["description", "commonName", "altNames", "subject", "maxTtl", "x"]), JSON
    )
)
def test_a_policy_document_parses_or_raises_invalid_setting(doc: dict[str, Any]) -> None:
    try:
        policy = Policy.from_document("p", doc)
    except InvalidSetting as error:
        assert error.detail
        return
    assert Policy.from_document("p", policy.to_document()) == policy  # a parsed policy round-trips


@given(st.lists(_NAMES, max_size=6))
def test_the_policy_matcher_refuses_exactly_the_names_outside_it(names: list[str]) -> None:
    normalised = []
    for name in names:
        try:
            normalised.append(normalize_dns_name(name))
        except CAError:
            continue
    violations = identifier_violations(_POLICY, normalised, [])
    refused = {violation.value for violation in violations}
    for name in normalised:
        inside = name.endswith(".example.internal") and name != "admin.example.internal"
        assert (name in refused) is not inside or "*" in name  # a wildcard may overlap the denied name


def test_a_csr_whose_ec_point_is_off_the_curve_is_bad_csr() -> None:
    # Found by the mutation property above: cryptography raises ValueError from public_key(), which
    # finalize would have answered 500.
    key = generate_key(KeyAlgorithm.EC_prime256v1)
    der = build_csr(Subject(common_name="a.example"), SubjectAltNames(dns=("a.example",)), key).public_bytes(
        Encoding.DER
    )
    own = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    broken = bytearray(own)
    broken[-1] ^= 0x01  # y no longer matches x
    assert own in der
    with pytest.raises(BadCSR, match="public key is malformed"):
        parse_csr(der.replace(own, bytes(broken)), der_only=True)
