import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from ca_core.errors import InvalidSetting
from ca_core.keys import KeyAlgorithm
from ca_core.profile import (
    DEFAULT_EXTENDED_KEY_USAGES,
    DEFAULT_KEY_USAGES,
    ChallengeType,
    EnrollmentMethod,
    IssuerType,
    KeyUsage,
    Profile,
)

WEB = Profile(name="web", ca_id="ca-1")


# --- validation --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "detail"),
    [
        ({"name": ""}, "name", "use letters, digits, '-' and '_' only"),
        ({"name": "web server"}, "name", "use letters, digits, '-' and '_' only"),
        ({"name": "wéb"}, "name", "use letters, digits, '-' and '_' only"),
        ({"ca_id": None}, "caId", "a profile of issuer type 'ca' needs an issuing CA"),
        ({"issuer_type": IssuerType.SELF_SIGNED}, "caId", "a self-signed profile has no issuing CA"),
        ({"default_ttl": timedelta(0)}, "defaultTtl", "must be longer than zero"),
        ({"max_ttl": timedelta(seconds=-1)}, "maxTtl", "must be longer than zero"),
        ({"default_ttl": timedelta(seconds=0.5)}, "defaultTtl", "must be a whole number of seconds"),
        ({"max_ttl": timedelta(days=36501)}, "maxTtl", "must not exceed 36500d"),
        ({"default_ttl": timedelta(days=400)}, "defaultTtl", "must not be longer than maxTtl (397d)"),
        ({"renew_before_days": -1}, "renewBeforeDays", "must not be negative"),
        ({"renew_before_days": 397}, "renewBeforeDays", "must be shorter than maxTtl"),
        ({"path_length": 0}, "basicConstraints.pathLength", "needs basicConstraints.ca"),
        (
            {"path_length": -1, "basic_constraints_ca": True},
            "basicConstraints.pathLength",
            "must not be negative",
        ),
        ({"allowed_key_algorithms": frozenset()}, "allowedKeyAlgorithms", "allow at least one key algorithm"),
        ({"enrollment_methods": frozenset()}, "enrollmentMethods", "allow at least one enrollment method"),
        ({"pre_authorized": ("ok.example", "bad..name")}, "preAuthorized[1]", "'bad..name': empty label"),
        ({"pre_authorized": (7,)}, "preAuthorized[0]", "must be a DNS name pattern string"),
        ({"authorization_reuse": timedelta(seconds=-1)}, "authorizationReuse", "must not be negative"),
        ({"authorization_reuse": timedelta(seconds=0.5)}, "authorizationReuse", "a whole number of seconds"),
        ({"authorization_reuse": timedelta(days=36501)}, "authorizationReuse", "must not exceed 36500d"),
        (
            {"max_backdate": timedelta(seconds=-1)},
            "maxBackdate",
            "must not be negative (0 means no backdating)",
        ),
        ({"max_backdate": timedelta(seconds=0.5)}, "maxBackdate", "a whole number of seconds"),
    ],
)
def test_invalid_profiles_name_the_field(overrides: dict[str, Any], field: str, detail: str) -> None:
    with pytest.raises(InvalidSetting) as caught:
        dataclasses.replace(WEB, **overrides)
    assert caught.value.field == field
    assert detail in caught.value.detail


def test_profile_is_a_hashable_value_even_when_given_plain_sets() -> None:
    profile = dataclasses.replace(WEB, key_usages={KeyUsage.DIGITAL_SIGNATURE})  # type: ignore[arg-type]
    assert profile.key_usages == frozenset({KeyUsage.DIGITAL_SIGNATURE})
    assert hash(profile) == hash(dataclasses.replace(WEB, key_usages=frozenset({KeyUsage.DIGITAL_SIGNATURE})))


def test_defaults() -> None:
    assert WEB.issuer_type is IssuerType.CA
    assert WEB.key_usages == DEFAULT_KEY_USAGES
    assert WEB.extended_key_usages == DEFAULT_EXTENDED_KEY_USAGES
    assert WEB.allowed_key_algorithms == frozenset(KeyAlgorithm)
    assert WEB.enrollment_methods == frozenset(EnrollmentMethod)
    assert (WEB.default_ttl, WEB.max_ttl, WEB.renew_before_days) == (
        timedelta(days=90),
        timedelta(days=397),
        30,
    )


def test_acme_rule_defaults_keep_acme_open() -> None:
    assert (WEB.allow_wildcards, WEB.require_eab, WEB.pre_authorized) == (True, False, ())
    assert WEB.authorization_reuse == timedelta(days=30)


# --- resolve_ttl -------------------------------------------------------------------------------------


def test_no_requested_ttl_means_the_default() -> None:
    assert WEB.resolve_ttl(None) == timedelta(days=90)


@pytest.mark.parametrize("ttl", [timedelta(hours=1), timedelta(days=397)])
def test_requested_ttl_up_to_the_maximum_is_used(ttl: timedelta) -> None:
    assert WEB.resolve_ttl(ttl) == ttl


@pytest.mark.parametrize(
    ("ttl", "detail"),
    [
        (timedelta(days=398), "ttl: 398d exceeds the profile's maximum of 397d"),
        (timedelta(0), "ttl: must be longer than zero"),
        (timedelta(days=-1), "ttl: must be longer than zero"),
    ],
)
def test_requested_ttl_beyond_the_maximum_or_not_positive_is_refused(ttl: timedelta, detail: str) -> None:
    with pytest.raises(InvalidSetting) as caught:
        WEB.resolve_ttl(ttl)
    assert caught.value.detail == detail


# --- documents ---------------------------------------------------------------------------------------

SUB_CA_DOCUMENT: dict[str, Any] = {
    "description": "Issuing CAs under the corporate root",
    "issuerType": "ca",
    "caId": "root-1",
    "policyId": "policy-1",
    "defaultTtl": "1825d",
    "maxTtl": "3650d",
    "keyUsages": ["digital_signature", "key_cert_sign", "crl_sign"],
    "extendedKeyUsages": [],
    "basicConstraints": {"ca": True, "pathLength": 0},
    "allowedKeyAlgorithms": ["RSA_4096", "EC_secp384r1"],
    "renewBeforeDays": 180,
    "autoRenewByDefault": True,
    "enrollmentMethods": ["api"],
    "allowWildcards": True,
    "requireEab": False,
    "preAuthorized": [],
    "authorizationReuse": "30d",
    "maxBackdate": "1h",
    "renewalWindow": {"start": 50, "end": 75},
    "challengeTypes": ["http-01", "dns-01", "tls-alpn-01"],
}
SUB_CA = Profile(
    name="sub-ca",
    issuer_type=IssuerType.CA,
    ca_id="root-1",
    policy_id="policy-1",
    description="Issuing CAs under the corporate root",
    default_ttl=timedelta(days=1825),
    max_ttl=timedelta(days=3650),
    key_usages=frozenset({KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_CERT_SIGN, KeyUsage.CRL_SIGN}),
    extended_key_usages=frozenset(),
    basic_constraints_ca=True,
    path_length=0,
    allowed_key_algorithms=frozenset({KeyAlgorithm.RSA_4096, KeyAlgorithm.EC_secp384r1}),
    renew_before_days=180,
    auto_renew_by_default=True,
    enrollment_methods=frozenset({EnrollmentMethod.API}),
    renewal_window=(50, 75),
)


def test_document_round_trips_exactly() -> None:
    assert Profile.from_document("sub-ca", SUB_CA_DOCUMENT) == SUB_CA
    assert SUB_CA.to_document() == SUB_CA_DOCUMENT
    assert list(SUB_CA.to_document()) == list(SUB_CA_DOCUMENT)


def test_default_profile_document_spells_out_every_setting() -> None:
    assert WEB.to_document() == {
        "description": "",
        "issuerType": "ca",
        "caId": "ca-1",
        "policyId": None,
        "defaultTtl": "90d",
        "maxTtl": "397d",
        "keyUsages": ["digital_signature", "key_encipherment"],
        "extendedKeyUsages": ["server_auth", "client_auth"],
        "basicConstraints": {"ca": False, "pathLength": None},
        "allowedKeyAlgorithms": [
            "RSA_2048",
            "RSA_3072",
            "RSA_4096",
            "EC_prime256v1",
            "EC_secp384r1",
            "ED25519",
        ],
        "renewBeforeDays": 30,
        "autoRenewByDefault": False,
        "enrollmentMethods": ["api", "acme"],
        "allowWildcards": True,
        "requireEab": False,
        "preAuthorized": [],
        "authorizationReuse": "30d",
        "maxBackdate": "1h",
        "renewalWindow": {"start": 67, "end": 100},
        "challengeTypes": ["http-01", "dns-01", "tls-alpn-01"],
    }
    assert Profile.from_document("web", WEB.to_document()) == WEB


def test_missing_keys_take_the_defaults() -> None:
    assert Profile.from_document("web", {"caId": "ca-1"}) == WEB
    self_signed = Profile.from_document("self", {"issuerType": "self-signed"})
    assert self_signed == Profile(name="self", issuer_type=IssuerType.SELF_SIGNED)


def test_document_sets_are_deduplicated_and_listed_in_declaration_order() -> None:
    doc = {"caId": "c", "extendedKeyUsages": ["client_auth", "server_auth", "client_auth"]}
    assert Profile.from_document("p", doc).to_document()["extendedKeyUsages"] == [
        "server_auth",
        "client_auth",
    ]


def test_document_null_ids_and_null_path_length_are_absent_values() -> None:
    doc = {
        "issuerType": "self-signed",
        "caId": None,
        "policyId": None,
        "basicConstraints": {"pathLength": None},
    }
    assert Profile.from_document("p", doc) == Profile(name="p", issuer_type=IssuerType.SELF_SIGNED)


def test_document_durations_come_back_canonical() -> None:
    profile = Profile.from_document("p", {"caId": "c", "defaultTtl": "12h", "maxTtl": "1y"})
    assert (profile.to_document()["defaultTtl"], profile.to_document()["maxTtl"]) == ("12h", "365d")


ACME_DOCUMENT: dict[str, Any] = {
    **WEB.to_document(),
    "allowWildcards": False,
    "requireEab": True,
    "preAuthorized": ["*.svc.example.internal", "**.corp.example.internal", "db.example.internal"],
    "authorizationReuse": "12h",
}


def test_acme_rules_round_trip() -> None:
    profile = Profile.from_document("web", ACME_DOCUMENT)
    assert profile == dataclasses.replace(
        WEB,
        allow_wildcards=False,
        require_eab=True,
        pre_authorized=("*.svc.example.internal", "**.corp.example.internal", "db.example.internal"),
        authorization_reuse=timedelta(hours=12),
    )
    assert profile.to_document() == ACME_DOCUMENT


@pytest.mark.parametrize("zero", ["0", "0d", "0s", " 0H "])
def test_authorization_reuse_of_zero_means_no_reuse_and_round_trips(zero: str) -> None:
    profile = Profile.from_document("web", {"caId": "ca-1", "authorizationReuse": zero})
    assert profile.authorization_reuse == timedelta(0)
    assert profile.to_document()["authorizationReuse"] == "0d"
    assert Profile.from_document("web", profile.to_document()) == profile


def test_max_backdate_defaults_to_an_hour_and_zero_means_none() -> None:
    assert WEB.max_backdate == timedelta(hours=1)
    profile = Profile.from_document("web", {"caId": "ca-1", "maxBackdate": "0"})
    assert profile.max_backdate == timedelta(0)
    assert profile.to_document()["maxBackdate"] == "0d"


def test_pre_authorized_patterns_given_as_a_list_keep_the_value_hashable() -> None:
    profile = dataclasses.replace(WEB, pre_authorized=["a.example.internal"])  # type: ignore[arg-type]
    assert profile.pre_authorized == ("a.example.internal",)
    assert hash(profile) == hash(dataclasses.replace(WEB, pre_authorized=("a.example.internal",)))


@pytest.mark.parametrize(
    ("doc", "field", "detail"),
    [
        ({"keyUsage": []}, "keyUsage", "unknown setting; use description, issuerType, caId"),
        (
            {"basicConstraints": {"isCa": True}},
            "basicConstraints.isCa",
            "unknown setting; use ca, pathLength",
        ),
        ({"issuerType": "root"}, "issuerType", "unknown issuer type 'root'; choose from self-signed, ca"),
        (
            {"keyUsages": ["digital_signature", "crl_sign", "foo"]},
            "keyUsages[2]",
            "unknown key usage 'foo'; choose from digital_signature, content_commitment, key_encipherment, "
            "data_encipherment, key_agreement, key_cert_sign, crl_sign, encipher_only, decipher_only",
        ),
        ({"keyUsages": "digital_signature"}, "keyUsages", "must be a list of key usages"),
        (
            {"extendedKeyUsages": ["serverAuth"]},
            "extendedKeyUsages[0]",
            "unknown extended key usage 'serverAuth'",
        ),
        (
            {"allowedKeyAlgorithms": ["RSA_1024"]},
            "allowedKeyAlgorithms[0]",
            "unknown key algorithm 'RSA_1024'",
        ),
        ({"allowedKeyAlgorithms": [2048]}, "allowedKeyAlgorithms[0]", "unknown key algorithm 2048"),
        ({"enrollmentMethods": ["scep"]}, "enrollmentMethods[0]", "choose from api, acme"),
        ({"enrollmentMethods": []}, "enrollmentMethods", "allow at least one enrollment method"),
        ({"description": None}, "description", "must be a string"),
        ({"caId": 7}, "caId", "must be a string"),
        ({"policyId": ["p"]}, "policyId", "must be a string"),
        ({"defaultTtl": 90}, "defaultTtl", "must be a duration like '90d', '12h' or '1y'"),
        ({"maxTtl": "forever"}, "maxTtl", "'forever' is not a duration"),
        ({"maxTtl": "10d"}, "defaultTtl", "must not be longer than maxTtl (10d)"),
        ({"renewBeforeDays": "30"}, "renewBeforeDays", "must be a whole number"),
        ({"renewBeforeDays": 30.0}, "renewBeforeDays", "must be a whole number"),
        ({"renewBeforeDays": True}, "renewBeforeDays", "must be a whole number"),
        ({"autoRenewByDefault": "yes"}, "autoRenewByDefault", "must be true or false"),
        ({"basicConstraints": []}, "basicConstraints", "must be an object"),
        ({"basicConstraints": {"ca": 1}}, "basicConstraints.ca", "must be true or false"),
        (
            {"basicConstraints": {"ca": True, "pathLength": "0"}},
            "basicConstraints.pathLength",
            "a whole number",
        ),
        ({"basicConstraints": {"pathLength": 1}}, "basicConstraints.pathLength", "needs basicConstraints.ca"),
        ({"allowWildcards": "no"}, "allowWildcards", "must be true or false"),
        ({"requireEab": 1}, "requireEab", "must be true or false"),
        ({"preAuthorized": "*.svc.example.internal"}, "preAuthorized", "must be a list of DNS name patterns"),
        ({"preAuthorized": ["a.example", None]}, "preAuthorized[1]", "must be a DNS name pattern string"),
        ({"preAuthorized": ["*.*.example"]}, "preAuthorized[0]", "may only be the whole leftmost label"),
        ({"preAuthorized": ["10.0.0.1"]}, "preAuthorized[0]", "the last label is all-numeric"),
        ({"authorizationReuse": 30}, "authorizationReuse", "or '0' for no reuse"),
        ({"maxBackdate": 60}, "maxBackdate", "or '0' for no backdating"),
        ({"authorizationReuse": "-1d"}, "authorizationReuse", "'-1d' is not a duration"),
        ({"authorizationReuse": "later"}, "authorizationReuse", "'later' is not a duration"),
        ({"renewalWindow": {"start": 80, "end": 70}}, "renewalWindow", "start must be earlier than end"),
        ({"renewalWindow": {"start": -1}}, "renewalWindow.start", "a whole percentage"),
        ({"renewalWindow": {"end": 101}}, "renewalWindow.end", "a whole percentage"),
        ({"renewalWindow": {"start": "half"}}, "renewalWindow.start", "must be a whole number"),
        ({"renewalWindow": {"begin": 10}}, "renewalWindow.begin", "unknown setting"),
    ],
)
def test_bad_documents_name_the_field(doc: dict[str, Any], field: str, detail: str) -> None:
    with pytest.raises(InvalidSetting) as caught:
        Profile.from_document("p", {"caId": "c", **doc})
    assert caught.value.field == field
    assert detail in caught.value.detail


def test_issuer_rules_apply_to_documents() -> None:
    with pytest.raises(InvalidSetting) as caught:
        Profile.from_document("p", {})
    assert caught.value.detail == "caId: a profile of issuer type 'ca' needs an issuing CA"


def test_a_document_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidSetting, match="profile: must be an object"):
        Profile.from_document("p", "web")  # type: ignore[arg-type]


def test_challenge_types_are_read_in_offering_order_and_an_empty_or_unknown_list_is_refused() -> None:
    profile = Profile.from_document(
        "p", {"caId": "x", "challengeTypes": ["dns-persist-01", "dns-account-01"]}
    )

    assert profile.challenge_types == (ChallengeType.DNS_ACCOUNT_01, ChallengeType.DNS_PERSIST_01)
    with pytest.raises(InvalidSetting, match="challengeTypes"):
        Profile.from_document("p", {"caId": "x", "challengeTypes": []})
    with pytest.raises(InvalidSetting, match=r"challengeTypes\[0\]"):
        Profile.from_document("p", {"caId": "x", "challengeTypes": ["tls-sni-01"]})
