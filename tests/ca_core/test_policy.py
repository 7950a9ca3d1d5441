import dataclasses
import ipaddress
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ca_core.errors import InvalidSetting, PolicyViolation, Violation
from ca_core.policy import NameRule, Policy, check_request, identifier_violations, request_violations
from ca_core.request import CertificateRequest, Subject, SubjectAltNames

KEY = ec.generate_private_key(ec.SECP256R1()).public_key()
DAY = timedelta(days=1)

INTERNAL = Policy(
    name="internal",
    common_name=NameRule(allowed=("*.svc.example.internal", "Build ??"), denied=("secret*",)),
    dns=NameRule(
        allowed=("*.svc.example.internal", "**.lab.internal"), denied=("admin.svc.example.internal",)
    ),
    ip=NameRule(allowed=("10.0.0.0/8", "fd00::/8"), denied=("10.99.0.0/16",)),
    email=NameRule(allowed=("*@example.internal",), denied=("root@*",)),
    uri=NameRule(
        allowed=("spiffe://cluster.local/ns/*",), denied=("spiffe://cluster.local/ns/kube-system/*",)
    ),
    subject_allowed={"O": ("Acme*",), "C": ("DE", "FR")},
    subject_required=frozenset({"O"}),
    max_ttl=timedelta(days=90),
)


def request(
    cn: str | None = "web.svc.example.internal",
    *,
    dns: tuple[str, ...] = (),
    ip: tuple[str, ...] = (),
    email: tuple[str, ...] = (),
    uri: tuple[str, ...] = (),
    **subject: str,
) -> CertificateRequest:
    attributes = {"organization": "Acme Corp", **subject}
    return CertificateRequest(
        subject=Subject(common_name=cn, **attributes),
        sans=SubjectAltNames(dns=dns, ip=tuple(ipaddress.ip_address(a) for a in ip), email=email, uri=uri),
        public_key=KEY,
    )


def violations(policy: Policy, req: CertificateRequest, ttl: timedelta = DAY) -> list[tuple[str, str]]:
    return [(v.field, v.value) for v in request_violations(policy, req, ttl=ttl)]


# --- checking requests -------------------------------------------------------------------------------


def test_a_compliant_request_passes() -> None:
    req = request(
        dns=("web.svc.example.internal", "a.b.lab.internal", "*.lab.internal"),
        ip=("10.1.2.3", "fd00::1"),
        email=("ops@example.internal",),
        uri=("spiffe://cluster.local/ns/prod/sa/web",),
        country="DE",
    )
    check_request(INTERNAL, req, ttl=timedelta(days=90))


def test_every_violation_is_listed_with_its_field_and_value() -> None:
    req = request(
        "evil.example.com",
        dns=("web.svc.example.internal", "evil.example.com", "admin.svc.example.internal"),
        ip=("10.1.2.3", "192.168.1.1", "10.99.1.1"),
        email=("ops@example.internal", "x@gmail.com", "root@example.internal"),
        uri=("spiffe://cluster.local/ns/kube-system/sa/x", "https://example.internal/"),
        organization="Evil Inc",
        country="US",
    )
    with pytest.raises(PolicyViolation) as caught:
        check_request(INTERNAL, req, ttl=timedelta(days=120))
    assert caught.value.violations == (
        Violation(
            "commonName",
            "evil.example.com",
            "not allowed by policy 'internal' (allowed: *.svc.example.internal, Build ??)",
        ),
        Violation(
            "altNames.dns",
            "evil.example.com",
            "not allowed by policy 'internal' (allowed: *.svc.example.internal, **.lab.internal)",
        ),
        Violation("altNames.dns", "admin.svc.example.internal", "denied by policy 'internal'"),
        Violation(
            "altNames.ip", "192.168.1.1", "not allowed by policy 'internal' (allowed: 10.0.0.0/8, fd00::/8)"
        ),
        Violation("altNames.ip", "10.99.1.1", "denied by policy 'internal'"),
        Violation(
            "altNames.email", "x@gmail.com", "not allowed by policy 'internal' (allowed: *@example.internal)"
        ),
        Violation("altNames.email", "root@example.internal", "denied by policy 'internal'"),
        Violation(
            "altNames.uri", "spiffe://cluster.local/ns/kube-system/sa/x", "denied by policy 'internal'"
        ),
        Violation(
            "altNames.uri",
            "https://example.internal/",
            "not allowed by policy 'internal' (allowed: spiffe://cluster.local/ns/*)",
        ),
        Violation("subject.C", "US", "not allowed by policy 'internal' (allowed: DE, FR)"),
        Violation("subject.O", "Evil Inc", "not allowed by policy 'internal' (allowed: Acme*)"),
        Violation("ttl", "120d", "exceeds the policy's maximum of 90d"),
    )
    assert caught.value.field == "commonName" and caught.value.value == "evil.example.com"
    assert caught.value.detail.startswith(
        "commonName 'evil.example.com': not allowed by policy 'internal' "
        "(allowed: *.svc.example.internal, Build ??); altNames.dns 'evil.example.com': not allowed"
    )


def test_check_request_is_silent_when_nothing_is_wrong_and_request_violations_empty() -> None:
    assert request_violations(INTERNAL, request(), ttl=DAY) == []
    check_request(INTERNAL, request(), ttl=DAY)


@pytest.mark.parametrize(
    ("field", "rule", "value", "req"),
    [
        ("commonName", "common_name", "db.example.internal", request("db.example.internal")),
        ("altNames.dns", "dns", "db.example.internal", request(None, dns=("db.example.internal",))),
        ("altNames.ip", "ip", "10.0.0.1", request(None, ip=("10.0.0.1",))),
        ("altNames.email", "email", "a@example.internal", request(None, email=("a@example.internal",))),
        ("altNames.uri", "uri", "urn:x", request(None, uri=("urn:x",))),
    ],
)
def test_denied_beats_allowed(field: str, rule: str, value: str, req: CertificateRequest) -> None:
    both: dict[str, Any] = {rule: NameRule(allowed=(value,), denied=(value,))}
    only_allowed: dict[str, Any] = {rule: NameRule(allowed=(value,))}
    assert request_violations(Policy("p", **both), req, ttl=DAY) == [
        Violation(field, value, "denied by policy 'p'")
    ]
    assert request_violations(Policy("p", **only_allowed), req, ttl=DAY) == []


def test_empty_allowed_list_allows_everything_and_an_empty_policy_allows_all() -> None:
    req = request("anything", dns=("a.b.c",), ip=("8.8.8.8",), email=("a@b.c",), uri=("urn:x",), country="US")
    assert request_violations(Policy("open"), req, ttl=timedelta(days=9999)) == []


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("a.svc.example.internal", True),
        ("*.svc.example.internal", False),  # it would cover the denied admin.svc.example.internal
        ("svc.example.internal", False),
        ("a.b.svc.example.internal", False),
        ("x.lab.internal", True),
        ("x.y.lab.internal", True),
        ("*.y.lab.internal", True),
        ("lab.internal", False),
    ],
)
def test_dns_sans_match_dns_patterns(name: str, ok: bool) -> None:
    found = violations(INTERNAL, request(None, dns=(name,)))
    assert found == ([] if ok else [("altNames.dns", name)])


@pytest.mark.parametrize(
    ("denied", "name", "refused"),
    [
        ("admin.svc.example.internal", "*.svc.example.internal", True),  # the wildcard covers it
        ("*.svc.example.internal", "*.svc.example.internal", True),
        ("**.svc.example.internal", "*.svc.example.internal", True),
        ("a.b.svc.example.internal", "*.svc.example.internal", False),  # two labels deep: not covered
        ("admin.other.internal", "*.svc.example.internal", False),
    ],
)
def test_a_wildcard_is_denied_when_it_would_cover_a_denied_name(
    denied: str, name: str, refused: bool
) -> None:
    policy = Policy("p", dns=NameRule(denied=(denied,)))
    expected = [Violation("altNames.dns", name, "denied by policy 'p'")] if refused else []
    assert identifier_violations(policy, [name], []) == expected


def test_a_wildcard_is_not_allowed_by_one_name_under_it() -> None:
    policy = Policy("p", dns=NameRule(allowed=("a.svc.example.internal",)))
    assert violations(policy, request(None, dns=("*.svc.example.internal",))) == [
        ("altNames.dns", "*.svc.example.internal")
    ]


@pytest.mark.parametrize(
    ("pattern", "cn", "ok"),
    [
        # DNS patterns match as DNS names: one label for '*.'
        ("*.svc.example.internal", "web.svc.example.internal", True),
        ("*.svc.example.internal", "a.web.svc.example.internal", False),
        ("**.example.internal", "a.web.svc.example.internal", True),
        ("db.example.internal", "DB.example.internal", True),
        # anything else is a glob over the whole common name
        ("Build ??", "Build 42", True),
        ("Build ??", "Build 420", False),
        ("Web *", "Web frontend (prod)", True),
        ("*", "whatever at all", True),
        ("*svc*", "a.b.svc.example.internal", True),
    ],
)
def test_common_name_uses_dns_patterns_when_the_pattern_is_one_and_globs_otherwise(
    pattern: str, cn: str, ok: bool
) -> None:
    policy = Policy("p", common_name=NameRule(allowed=(pattern,)))
    assert violations(policy, request(cn)) == ([] if ok else [("commonName", cn)])


def test_common_name_absent_is_not_checked_against_the_rule() -> None:
    assert violations(INTERNAL, request(None)) == []


def test_required_subject_attributes_must_be_present() -> None:
    policy = Policy("p", subject_required=frozenset({"CN", "O", "OU", "L"}))
    req = CertificateRequest(Subject(organization="Acme"), SubjectAltNames(dns=("a.b",)), KEY)
    assert request_violations(policy, req, ttl=DAY) == [
        Violation("commonName", "", "required by policy 'p'"),
        Violation("subject.L", "", "required by policy 'p'"),
        Violation("subject.OU", "", "required by policy 'p'"),
    ]


def test_subject_attributes_without_a_rule_take_any_value() -> None:
    assert violations(INTERNAL, request(organizational_unit="Anything", locality="Anywhere")) == []


def test_subject_globs_ignore_case() -> None:
    assert violations(INTERNAL, request(organization="ACME gmbh", country="de")) == []


@pytest.mark.parametrize(("ttl", "ok"), [(timedelta(days=90), True), (timedelta(days=90, seconds=1), False)])
def test_ttl_up_to_the_maximum(ttl: timedelta, ok: bool) -> None:
    found = request_violations(INTERNAL, request(), ttl=ttl)
    assert found == ([] if ok else [Violation("ttl", "7776001s", "exceeds the policy's maximum of 90d")])


def test_ip_sans_match_networks_and_ipv4_mapped_addresses_cannot_dodge_a_denied_network() -> None:
    mapped = str(ipaddress.ip_address("::ffff:10.99.0.1"))
    assert violations(INTERNAL, request(None, ip=(mapped, "10.255.255.255"))) == [("altNames.ip", mapped)]


def test_identifier_violations_give_one_violation_per_refused_identifier() -> None:
    found = identifier_violations(
        INTERNAL,
        ["web.svc.example.internal", "evil.example.com", "admin.svc.example.internal"],
        [ipaddress.ip_address("10.0.0.1"), ipaddress.ip_address("192.0.2.1")],
    )
    assert found == [
        Violation(
            "altNames.dns",
            "evil.example.com",
            "not allowed by policy 'internal' (allowed: *.svc.example.internal, **.lab.internal)",
        ),
        Violation("altNames.dns", "admin.svc.example.internal", "denied by policy 'internal'"),
        Violation(
            "altNames.ip", "192.0.2.1", "not allowed by policy 'internal' (allowed: 10.0.0.0/8, fd00::/8)"
        ),
    ]


# --- validation --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "detail"),
    [
        ({"name": ""}, "name", "use letters, digits, '-' and '_' only"),
        ({"name": "a b"}, "name", "use letters, digits, '-' and '_' only"),
        ({"name": "café"}, "name", "use letters, digits, '-' and '_' only"),
        (
            {"dns": NameRule(allowed=("ok.internal", "bad..name"))},
            "altNames.dns.allowed[1]",
            "'bad..name': empty label",
        ),
        (
            {"dns": NameRule(denied=("a.*.b",))},
            "altNames.dns.denied[0]",
            "may only be the whole leftmost label",
        ),
        (
            {"dns": NameRule(allowed=("**.*.b",))},
            "altNames.dns.allowed[0]",
            "wildcard names are not allowed here",
        ),
        (
            {"ip": NameRule(denied=("10.0.0.0/33",))},
            "altNames.ip.denied[0]",
            "not a CIDR network like 10.0.0.0/8 or fd00::/8",
        ),
        ({"ip": NameRule(allowed=("10.0.0.1/8",))}, "altNames.ip.allowed[0]", "did you mean 10.0.0.0/8?"),
        ({"common_name": NameRule(allowed=("",))}, "commonName.allowed[0]", "empty pattern"),
        ({"email": NameRule(denied=("ok", ""))}, "altNames.email.denied[1]", "empty pattern"),
        ({"uri": NameRule(allowed=("",))}, "altNames.uri.allowed[0]", "empty pattern"),
        ({"subject_allowed": {"CN": ("x",)}}, "subject.allowed", "unknown attribute 'CN'"),
        ({"subject_allowed": {"Org": ("x",)}}, "subject.allowed", "use C, ST, L, O, OU"),
        ({"subject_allowed": {"O": ("Acme", "")}}, "subject.allowed.O[1]", "empty pattern"),
        ({"subject_required": frozenset({"O", "E"})}, "subject.required", "unknown attribute 'E'"),
        ({"max_ttl": timedelta(0)}, "maxTtl", "must be longer than zero"),
        ({"max_ttl": timedelta(seconds=1.5)}, "maxTtl", "must be a whole number of seconds"),
    ],
)
def test_invalid_settings_name_the_field(overrides: dict[str, Any], field: str, detail: str) -> None:
    with pytest.raises(InvalidSetting) as caught:
        Policy(**{"name": "p", **overrides})
    assert caught.value.field == field
    assert detail in caught.value.detail


def test_policy_is_an_immutable_hashable_value() -> None:
    source = {"O": ["Acme*"]}
    policy = Policy("p", subject_allowed=source)  # type: ignore[arg-type]
    source["O"].append("Evil*")
    assert policy.subject_allowed == {"O": ("Acme*",)}
    with pytest.raises(TypeError):
        policy.subject_allowed["O"] = ("x",)  # type: ignore[index]
    assert hash(policy) == hash(Policy("p", subject_allowed={"O": ("Acme*",)}))
    assert dataclasses.replace(policy, description="d").subject_allowed == policy.subject_allowed
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.name = "q"  # type: ignore[misc]


# --- documents ---------------------------------------------------------------------------------------

FULL_DOCUMENT: dict[str, Any] = {
    "description": "Internal services",
    "commonName": {"allowed": ["*.svc.example.internal", "Build ??"], "denied": ["secret*"]},
    "altNames": {
        "dns": {
            "allowed": ["*.svc.example.internal", "**.lab.internal"],
            "denied": ["admin.svc.example.internal"],
        },
        "ip": {"allowed": ["10.0.0.0/8", "fd00::/8"], "denied": ["10.99.0.0/16"]},
        "email": {"allowed": ["*@example.internal"], "denied": ["root@*"]},
        "uri": {
            "allowed": ["spiffe://cluster.local/ns/*"],
            "denied": ["spiffe://cluster.local/ns/kube-system/*"],
        },
    },
    "subject": {"allowed": {"O": ["Acme*"], "C": ["DE", "FR"]}, "required": ["O"]},
    "maxTtl": "90d",
}


def test_document_round_trips_exactly() -> None:
    policy = Policy.from_document("internal", FULL_DOCUMENT)
    assert policy == dataclasses.replace(INTERNAL, description="Internal services")
    assert policy.to_document() == FULL_DOCUMENT
    assert Policy.from_document("internal", policy.to_document()) == policy


def test_empty_document_is_the_open_policy_with_every_key_spelled_out() -> None:
    policy = Policy.from_document("open", {})
    assert policy == Policy("open")
    assert policy.to_document() == {
        "description": "",
        "commonName": {"allowed": [], "denied": []},
        "altNames": {
            "dns": {"allowed": [], "denied": []},
            "ip": {"allowed": [], "denied": []},
            "email": {"allowed": [], "denied": []},
            "uri": {"allowed": [], "denied": []},
        },
        "subject": {"allowed": {}, "required": []},
        "maxTtl": None,
    }


def test_document_durations_and_required_attributes_come_back_canonical() -> None:
    doc = {"maxTtl": "1y", "subject": {"required": ["OU", "CN", "O", "O"]}}
    assert Policy.from_document("p", doc).to_document()["maxTtl"] == "365d"
    assert Policy.from_document("p", doc).to_document()["subject"]["required"] == ["CN", "O", "OU"]


@pytest.mark.parametrize(
    ("doc", "field", "detail"),
    [
        ({"allow": {}}, "allow", "unknown setting; use description, commonName, altNames, subject, maxTtl"),
        ({"altNames": {"dsn": {}}}, "altNames.dsn", "unknown setting; use dns, ip, email, uri"),
        ({"altNames": {"dns": {"allow": []}}}, "altNames.dns.allow", "unknown setting; use allowed, denied"),
        ({"commonName": {"permitted": []}}, "commonName.permitted", "unknown setting"),
        ({"subject": {"optional": []}}, "subject.optional", "unknown setting; use allowed, required"),
        ({"description": 5}, "description", "must be a string"),
        ({"commonName": []}, "commonName", "must be an object"),
        ({"altNames": "dns"}, "altNames", "must be an object"),
        ({"altNames": {"dns": {"allowed": "*.x"}}}, "altNames.dns.allowed", "must be a list of strings"),
        ({"altNames": {"ip": {"denied": ["10.0.0.0/8", 10]}}}, "altNames.ip.denied[1]", "must be a string"),
        (
            {"altNames": {"ip": {"denied": ["10.0.0.0/8", "x"]}}},
            "altNames.ip.denied[1]",
            "not a CIDR network",
        ),
        ({"subject": {"allowed": ["O"]}}, "subject.allowed", "must be an object"),
        ({"subject": {"allowed": {"O": "Acme"}}}, "subject.allowed.O", "must be a list of strings"),
        ({"subject": {"allowed": {"CN": ["x"]}}}, "subject.allowed", "unknown attribute 'CN'"),
        ({"subject": {"required": "O"}}, "subject.required", "must be a list of strings"),
        ({"subject": {"required": ["X"]}}, "subject.required", "unknown attribute 'X'"),
        ({"maxTtl": 90}, "maxTtl", "must be a duration like '90d', or null for no maximum"),
        ({"maxTtl": "soon"}, "maxTtl", "is not a duration"),
        ({"maxTtl": "0d"}, "maxTtl", "must be longer than zero"),
    ],
)
def test_bad_documents_name_the_field_path(doc: dict[str, Any], field: str, detail: str) -> None:
    with pytest.raises(InvalidSetting) as caught:
        Policy.from_document("p", doc)
    assert caught.value.field == field
    assert detail in caught.value.detail


def test_a_document_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidSetting, match="policy: must be an object"):
        Policy.from_document("p", ["no"])  # type: ignore[arg-type]


def test_bad_name_in_from_document_is_refused() -> None:
    with pytest.raises(InvalidSetting) as caught:
        Policy.from_document("no spaces", {})
    assert caught.value.field == "name"
