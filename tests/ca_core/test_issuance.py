"""Issuance: extensions as openssl prints them, lifetimes, profile rules and self-signed certificates."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from ca_core.authority import CASettings, CertificateAuthority
from ca_core.errors import BadCSR, BadPublicKey, CADisabled, InvalidSetting, KeyNotAllowed
from ca_core.issuance import CheckedRequest, IssuedCertificate, check_request, issue, issue_self_signed
from ca_core.keys import KeyAlgorithm, generate_key
from ca_core.profile import ExtendedKeyUsage, IssuerType, KeyUsage, Profile
from ca_core.request import CertificateRequest, Subject, SubjectAltNames
from ca_core.serials import random_serial
from tests.ca_core.helpers import (
    CRL_URL,
    ISSUER_URL,
    NOW,
    OCSP_URL,
    leaf_request,
    make_intermediate,
    make_root,
    openssl,
    pem,
    web_profile,
    write_pem,
    x509_text,
)


@pytest.fixture(scope="module")
def root() -> CertificateAuthority:
    return make_root()


@pytest.fixture(scope="module")
def inter(root: CertificateAuthority) -> CertificateAuthority:
    return make_intermediate(root)


def sign(
    ca: CertificateAuthority,
    request: CertificateRequest | CheckedRequest,
    profile: Profile | None = None,
    **kw: Any,
) -> IssuedCertificate:
    return issue(ca, profile or web_profile(ca.id), request, serial=random_serial(), now=NOW, **kw)


def verify_chain(tmp_path: Path, issued: IssuedCertificate, *extra: str) -> str:
    root_path = write_pem(tmp_path, "root.pem", issued.chain[-1])
    untrusted = write_pem(tmp_path, "untrusted.pem", *issued.chain[:-1])
    leaf = write_pem(tmp_path, "leaf.pem", issued.certificate)
    return openssl("verify", *extra, "-CAfile", root_path, "-untrusted", untrusted, leaf).stdout


def test_leaf_extensions_as_openssl_prints_them(inter: CertificateAuthority, tmp_path: Path) -> None:
    request = CertificateRequest(
        Subject(common_name="web.example.internal", organization="Example"),
        SubjectAltNames(
            dns=("web.example.internal", "www.example.internal"), ip=(ipaddress.ip_address("10.0.0.5"),)
        ),
        generate_key(KeyAlgorithm.RSA_2048).public_key(),
    )
    issued = sign(inter, request)
    text = x509_text(write_pem(tmp_path, "leaf.pem", issued.certificate))
    assert "X509v3 Basic Constraints: critical CA:FALSE" in text
    assert "X509v3 Key Usage: critical Digital Signature, Key Encipherment" in text
    assert "X509v3 Extended Key Usage: TLS Web Server Authentication, TLS Web Client Authentication" in text
    sans = "DNS:web.example.internal, DNS:www.example.internal, IP Address:10.0.0.5"
    assert f"X509v3 Subject Alternative Name: {sans}" in text
    assert f"X509v3 CRL Distribution Points: Full Name: URI:{CRL_URL}" in text
    assert f"Authority Information Access: OCSP - URI:{OCSP_URL} CA Issuers - URI:{ISSUER_URL}" in text
    assert "Subject: O = Example, CN = web.example.internal" in text
    assert "Issuer: O = ca_core tests, CN = Test Intermediate" in text
    assert verify_chain(tmp_path, issued, "-purpose", "sslserver").strip().endswith(": OK")


def test_leaf_aki_equals_the_issuing_cas_ski(inter: CertificateAuthority, tmp_path: Path) -> None:
    issued = sign(inter, leaf_request()[0])
    ca_text = x509_text(write_pem(tmp_path, "ca.pem", inter.certificate))
    leaf_text = x509_text(write_pem(tmp_path, "leaf.pem", issued.certificate))
    ca_ski = ca_text.split("X509v3 Subject Key Identifier: ")[1].split()[0]
    leaf_aki = leaf_text.split("X509v3 Authority Key Identifier: ")[1].split()[0]
    assert leaf_aki.removeprefix("keyid:") == ca_ski
    assert "X509v3 Subject Key Identifier:" in leaf_text


@pytest.mark.parametrize(
    "algorithm", [KeyAlgorithm.EC_prime256v1, KeyAlgorithm.EC_secp384r1, KeyAlgorithm.ED25519]
)
def test_keys_that_cannot_encipher_get_no_key_encipherment(
    inter: CertificateAuthority, algorithm: KeyAlgorithm, tmp_path: Path
) -> None:
    profile = web_profile(
        key_usages=frozenset(
            {KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_ENCIPHERMENT, KeyUsage.DATA_ENCIPHERMENT}
        )
    )
    issued = sign(inter, leaf_request(algorithm)[0], profile)
    text = x509_text(write_pem(tmp_path, "leaf.pem", issued.certificate))
    assert "X509v3 Key Usage: critical Digital Signature X509v3" in text
    assert verify_chain(tmp_path, issued).strip().endswith(": OK")


def test_key_agreement_is_kept_for_ec_and_dropped_for_ed25519(inter: CertificateAuthority) -> None:
    profile = web_profile(key_usages=frozenset({KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_AGREEMENT}))
    ec_usage = sign(inter, leaf_request()[0], profile).certificate.extensions.get_extension_for_class(
        x509.KeyUsage
    )
    ed_issued = sign(inter, leaf_request(KeyAlgorithm.ED25519)[0], profile).certificate
    ed_usage = ed_issued.extensions.get_extension_for_class(x509.KeyUsage)
    assert ec_usage.value.key_agreement and not ed_usage.value.key_agreement


def test_leaf_cannot_get_cert_sign_usage_without_ca_constraint(inter: CertificateAuthority) -> None:
    profile = web_profile(key_usages=frozenset({KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_CERT_SIGN}))
    usage = sign(inter, leaf_request()[0], profile).certificate.extensions.get_extension_for_class(
        x509.KeyUsage
    )
    assert usage.value.digital_signature and not usage.value.key_cert_sign


def test_no_possible_key_usage_means_no_key_usage_extension(inter: CertificateAuthority) -> None:
    profile = web_profile(key_usages=frozenset({KeyUsage.KEY_ENCIPHERMENT}))
    certificate = sign(inter, leaf_request()[0], profile).certificate
    with pytest.raises(x509.ExtensionNotFound):
        certificate.extensions.get_extension_for_class(x509.KeyUsage)


def test_profile_eku_set_is_written_and_empty_means_none(inter: CertificateAuthority, tmp_path: Path) -> None:
    code_signing = web_profile(extended_key_usages=frozenset({ExtendedKeyUsage.CODE_SIGNING}))
    text = x509_text(write_pem(tmp_path, "cs.pem", sign(inter, leaf_request()[0], code_signing).certificate))
    assert "X509v3 Extended Key Usage: Code Signing" in text
    no_eku = sign(inter, leaf_request()[0], web_profile(extended_key_usages=frozenset())).certificate
    with pytest.raises(x509.ExtensionNotFound):
        no_eku.extensions.get_extension_for_class(x509.ExtendedKeyUsage)


def test_empty_subject_makes_the_san_critical(inter: CertificateAuthority, tmp_path: Path) -> None:
    request, _ = leaf_request(common_name=None, dns=("only-san.example.internal",))
    issued = sign(inter, request)
    text = x509_text(write_pem(tmp_path, "leaf.pem", issued.certificate))
    assert "X509v3 Subject Alternative Name: critical DNS:only-san.example.internal" in text
    assert verify_chain(tmp_path, issued).strip().endswith(": OK")


def test_request_without_common_name_or_san_is_refused(inter: CertificateAuthority) -> None:
    request, _ = leaf_request(common_name=None, dns=())
    with pytest.raises(BadCSR, match="no subject common name and no subject alternative name"):
        sign(inter, request)


def test_default_ttl_comes_from_the_profile(inter: CertificateAuthority) -> None:
    certificate = sign(inter, leaf_request()[0], web_profile(default_ttl=timedelta(days=30))).certificate
    assert certificate.not_valid_before_utc == NOW
    assert certificate.not_valid_after_utc == NOW + timedelta(days=30)


def test_requested_ttl_and_not_before_are_used(inter: CertificateAuthority) -> None:
    start = NOW + timedelta(hours=1)
    certificate = sign(inter, leaf_request()[0], ttl=timedelta(days=7), not_before=start).certificate
    assert certificate.not_valid_before_utc == start
    assert certificate.not_valid_after_utc == start + timedelta(days=7)


def test_ttl_up_to_the_maximum_is_allowed_and_longer_is_refused(inter: CertificateAuthority) -> None:
    profile = web_profile(default_ttl=timedelta(days=30), max_ttl=timedelta(days=60))
    certificate = sign(inter, leaf_request()[0], profile, ttl=timedelta(days=60)).certificate
    assert certificate.not_valid_after_utc - certificate.not_valid_before_utc == timedelta(days=60)
    with pytest.raises(InvalidSetting) as caught:
        sign(inter, leaf_request()[0], profile, ttl=timedelta(days=61))
    assert caught.value.field == "ttl"


def test_not_after_is_clipped_to_the_issuing_ca(root: CertificateAuthority) -> None:
    short_ca = make_intermediate(root, validity=timedelta(days=10), name="Short Intermediate")
    certificate = sign(short_ca, leaf_request()[0]).certificate
    assert certificate.not_valid_after_utc == short_ca.certificate.not_valid_after_utc


def test_ca_that_expired_before_not_before_issues_nothing(root: CertificateAuthority) -> None:
    short_ca = make_intermediate(root, validity=timedelta(days=1), name="Short Intermediate")
    with pytest.raises(InvalidSetting, match="validity: the issuing CA expires at"):
        sign(short_ca, leaf_request()[0], not_before=NOW + timedelta(days=2))


def test_key_algorithm_outside_the_profile_is_refused(inter: CertificateAuthority) -> None:
    profile = web_profile(allowed_key_algorithms=frozenset({KeyAlgorithm.EC_prime256v1}))
    with pytest.raises(BadPublicKey) as caught:
        sign(inter, leaf_request(KeyAlgorithm.EC_secp384r1)[0], profile)
    assert caught.value.detail == "key algorithm EC_secp384r1 is not allowed by profile 'web'"


def test_key_not_allowed_names_the_algorithm_and_what_the_profile_allows() -> None:
    profile = web_profile(
        allowed_key_algorithms=frozenset({KeyAlgorithm.EC_prime256v1, KeyAlgorithm.RSA_2048})
    )
    with pytest.raises(KeyNotAllowed) as caught:
        check_request(profile, leaf_request(KeyAlgorithm.EC_secp384r1)[0])
    assert (caught.value.algorithm, caught.value.profile, caught.value.allowed) == (
        "EC_secp384r1",
        "web",
        ("EC_prime256v1", "RSA_2048"),
    )


def test_a_request_checked_for_another_profile_is_checked_again(inter: CertificateAuthority) -> None:
    request = leaf_request(KeyAlgorithm.EC_secp384r1)[0]
    checked = check_request(web_profile(), request)  # the default profile allows P-384
    strict = web_profile(allowed_key_algorithms=frozenset({KeyAlgorithm.EC_prime256v1}))
    with pytest.raises(KeyNotAllowed):
        sign(inter, checked, strict)
    assert sign(inter, checked, checked.profile).certificate.public_key() == request.public_key


def test_profile_of_another_ca_is_refused(inter: CertificateAuthority) -> None:
    with pytest.raises(InvalidSetting) as caught:
        sign(inter, leaf_request()[0], web_profile("some-other-ca"))
    assert caught.value.detail == "profile: profile 'web' does not issue from CA Test Intermediate"


def test_self_signed_profile_cannot_issue_from_a_ca(inter: CertificateAuthority) -> None:
    with pytest.raises(InvalidSetting, match="profile"):
        sign(inter, leaf_request()[0], Profile(name="self", issuer_type=IssuerType.SELF_SIGNED))


def test_disabled_ca_refuses_to_sign(root: CertificateAuthority) -> None:
    disabled = make_intermediate(root, enabled=False, name="Retired Intermediate")
    with pytest.raises(CADisabled) as caught:
        sign(disabled, leaf_request()[0])
    assert caught.value.detail == "CA Retired Intermediate is disabled"


def test_managed_issuance_keeps_the_private_key(inter: CertificateAuthority) -> None:
    request, key = leaf_request(KeyAlgorithm.RSA_2048)
    issued = sign(inter, request, private_key=key)
    assert issued.private_key is key
    _, other = leaf_request()
    with pytest.raises(InvalidSetting, match="privateKey: does not match"):
        sign(inter, request, private_key=other)


def test_issued_certificate_pem_properties(inter: CertificateAuthority, root: CertificateAuthority) -> None:
    issued = sign(inter, leaf_request()[0])
    assert issued.chain == (inter.certificate, root.certificate)
    assert issued.serial == issued.certificate.serial_number
    assert issued.certificate_pem == pem(issued.certificate).decode()
    assert issued.chain_pem == pem(inter.certificate, root.certificate).decode()
    assert issued.fullchain_pem == issued.certificate_pem + issued.chain_pem
    assert issued.private_key is None


def test_ca_profile_issues_a_sub_ca_within_the_path_length(tmp_path: Path) -> None:
    root = make_root(settings=CASettings(max_path_length=1))
    sub_ca_profile = Profile(
        name="sub-ca",
        ca_id=root.id,
        basic_constraints_ca=True,
        key_usages=frozenset({KeyUsage.KEY_CERT_SIGN, KeyUsage.CRL_SIGN}),
        extended_key_usages=frozenset(),
    )
    issued = sign(root, leaf_request()[0], sub_ca_profile)
    text = x509_text(write_pem(tmp_path, "sub.pem", issued.certificate))
    assert "X509v3 Basic Constraints: critical CA:TRUE, pathlen:0" in text
    assert "X509v3 Key Usage: critical Certificate Sign, CRL Sign" in text
    inter = make_intermediate(root)  # pathlen 0: cannot sign a CA through a profile either
    with pytest.raises(InvalidSetting, match="pathLength: CA Test Intermediate has path length 0"):
        sign(inter, leaf_request()[0], Profile(**{**sub_ca_profile.__dict__, "ca_id": inter.id}))


# --- Self-signed ----------------------------------------------------------------------------------

SELF_PROFILE = Profile(name="self", issuer_type=IssuerType.SELF_SIGNED)


@pytest.mark.parametrize(
    "algorithm", [KeyAlgorithm.RSA_2048, KeyAlgorithm.EC_prime256v1, KeyAlgorithm.ED25519]
)
def test_self_signed_certificate_verifies_against_itself(algorithm: KeyAlgorithm, tmp_path: Path) -> None:
    key = generate_key(algorithm)
    issued = issue_self_signed(
        SELF_PROFILE,
        CertificateRequest(
            Subject(common_name="device.example.internal"),
            SubjectAltNames(dns=("device.example.internal",)),
            key.public_key(),
        ),
        key,
        serial=random_serial(),
        now=NOW,
    )
    assert issued.chain == () and issued.private_key is key and issued.chain_pem == ""
    assert issued.certificate.issuer == issued.certificate.subject
    path = write_pem(tmp_path, "self.pem", issued.certificate)
    assert openssl("verify", "-CAfile", path, path).stdout.strip() == f"{path}: OK"
    text = x509_text(path)
    assert "X509v3 Subject Alternative Name: DNS:device.example.internal" in text
    assert "CRL Distribution Points" not in text and "Authority Information Access" not in text
    assert issued.certificate.not_valid_after_utc == NOW + SELF_PROFILE.default_ttl


def test_self_signed_needs_a_self_signed_profile_and_a_subject(inter: CertificateAuthority) -> None:
    key = generate_key(KeyAlgorithm.EC_prime256v1)
    sans = SubjectAltNames(dns=("device.example.internal",))
    with pytest.raises(InvalidSetting, match="not a self-signed profile"):
        issue_self_signed(
            web_profile(),
            CertificateRequest(Subject(common_name="x"), sans, key.public_key()),
            key,
            serial=1,
            now=NOW,
        )
    with pytest.raises(InvalidSetting, match="subject: a self-signed certificate needs a subject"):
        issue_self_signed(
            SELF_PROFILE, CertificateRequest(Subject(), sans, key.public_key()), key, serial=1, now=NOW
        )


def test_self_signed_ttl_is_checked_against_the_profile() -> None:
    key = generate_key(KeyAlgorithm.EC_prime256v1)
    with pytest.raises(InvalidSetting, match="ttl"):
        issue_self_signed(
            SELF_PROFILE,
            CertificateRequest(Subject(common_name="x"), SubjectAltNames(), key.public_key()),
            key,
            serial=1,
            now=NOW,
            ttl=timedelta(days=9999),
        )
