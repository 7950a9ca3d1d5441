"""The corpus of hostile REST API requests (issue 10): each case is one named request, with the exact
status, problem type and title the API answers (api/problems.py, RFC 9457), and the proof that it
stored nothing (every table's rows, tests/hostile/snapshot.py). One server, PKI and set of tokens per
engine (tests/hostile/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from sqlalchemy import update

from acme_server.services.access import tokens
from acme_server.storage import Storage
from acme_server.storage.tables import api_tokens
from ca_core.csr import build_csr
from ca_core.keys import KeyAlgorithm, generate_key
from ca_core.request import Subject, SubjectAltNames
from tests.api.conftest import CM, PROBLEM, ApiServer, api_server, issue_managed, make_pki
from tests.hostile.corpus import Case, problem_of
from tests.hostile.snapshot import unchanged

pytestmark = pytest.mark.asyncio(loop_scope="module")

# api/problems.py: each problem type has one title (the wire contract a client may show)
TITLES = {
    "unauthorized": "Unauthorized",
    "forbidden": "Forbidden",
    "invalid-field": "Invalid field",
    "not-found": "Not found",
    "conflict": "Conflict",
    "already-revoked": "Already revoked",
    "bad-csr": "Bad certificate signing request",
    "bad-public-key": "Unacceptable public key",
    "policy-violation": "Refused by the certificate policy",
    "invalid-identifier": "Invalid identifier",
    "method-not-allowed": "Method not allowed",
    "malformed": "Malformed request",
    "bad-request": "Bad request",
}


@dataclass
class World:
    """A root, an intermediate, policy `internal` and profile `web` (make_pki), an active and a revoked
    certificate, an external CA waiting for its certificate, and tokens: one per role, one expired,
    one revoked."""

    api: ApiServer
    active: str  # certificate id
    revoked: str
    expired_token: str
    revoked_token: str
    extra: dict[str, str] = field(default_factory=dict)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(corpus_storage: Storage, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    async with api_server(corpus_storage, tmp_path_factory.mktemp("hostile-api")) as api:
        await make_pki(api)
        active = (await issue_managed(api))["certificateId"]
        revoked = (await issue_managed(api, "old.svc.example.internal"))["certificateId"]
        await api.ok("POST", f"{CM}/certificates/{revoked}/revoke", json={"revocationReason": "SUPERSEDED"})
        await api.ok("POST", f"{CM}/cas", json={"type": "external", "name": "offline-issuing"}, status=201)
        expired, info = await tokens.create_token(api.rt, "expired", tokens.Role.ADMIN)
        async with api.rt.storage.write_engine.begin() as connection:
            yesterday = datetime.now(UTC) - timedelta(days=1)
            await connection.execute(
                update(api_tokens).where(api_tokens.c.id == info.id).values(expires_at=yesterday)
            )
        gone, _ = await tokens.create_token(api.rt, "revoked", tokens.Role.ADMIN)
        await tokens.revoke_token(api.rt, "revoked")
        yield World(api, active, revoked, expired, gone)


Send = Callable[[World], Awaitable[httpx.Response]]
CASES: list[Case[World]] = []


def simple(name: str, status: int, kind: str, send: Send) -> None:
    CASES.append(Case(name, send, status, kind))


def refused_request(name: str, kind: str, body: dict[str, Any]) -> None:
    """A certificate request the API stores as failed (and nothing else) while refusing it."""
    CASES.append(
        Case(name, call("POST", REQUESTS, role="operator", json=body), 400, kind, records_failure=True)
    )


def call(
    method: str, path: str | Callable[[World], str], *, role: str | None = "admin", **kwargs: Any
) -> Send:
    """A request as `role` (None: no token); `path` may depend on the world (certificate ids). Sent
    past ApiServer.request, so that tests/api/test_api_every_endpoint.py counts only its own suite."""

    extra_headers = kwargs.pop("headers", {})

    def send(w: World) -> Awaitable[httpx.Response]:
        target = path(w) if callable(path) else path
        headers = {**w.api.headers(role), **extra_headers}
        return w.api.http.request(method, w.api.url + target, headers=headers, **kwargs)

    return send


def bearer(secret: Callable[[World], str]) -> Send:
    def send(w: World) -> Awaitable[httpx.Response]:
        return call("POST", CAS, role=None, headers={"Authorization": secret(w)}, json=NEW_ROOT)(w)

    return send


NEW_ROOT = {"type": "root", "name": "hostile-root"}
CAS = f"{CM}/cas"
POLICIES = f"{CM}/certificate-policies"
PROFILES = f"{CM}/certificate-profiles"
REQUESTS = f"{CM}/certificate-requests"
TOKENS = "/api/v1/tokens"


def cert_path(suffix: str = "", which: str = "active") -> Callable[[World], str]:
    return lambda w: f"{CM}/certificates/{getattr(w, which)}{suffix}"


def csr_pem(*names: str, key: Any = None, common_name: str | None = None) -> str:
    key = key or generate_key(KeyAlgorithm.EC_prime256v1)
    csr = build_csr(Subject(common_name=common_name or names[0]), SubjectAltNames(dns=names), key)
    return csr.public_bytes(Encoding.PEM).decode()


def weak_csr_pem(name: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    )
    builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.PEM).decode()


def by_csr(pem: str) -> dict[str, Any]:
    return {"profile": "web", "csr": {"pem": pem}}


def managed(**fields: Any) -> dict[str, Any]:
    return {"profile": "web", "managed": {"altNames": ["m.svc.example.internal"], **fields}}


# --- credentials and roles -----------------------------------------------------------------------------

simple("token_missing", 401, "unauthorized", call("POST", CAS, role=None, json=NEW_ROOT))
simple("token_bearer_without_secret", 401, "unauthorized", bearer(lambda w: "Bearer"))
simple("token_basic_scheme", 401, "unauthorized", bearer(lambda w: "Basic YWRtaW46YWRtaW4="))
simple("token_without_scheme", 401, "unauthorized", bearer(lambda w: w.api.secrets["admin"]))
simple(
    "token_unknown", 401, "unauthorized", bearer(lambda w: "Bearer " + w.api.secrets["admin"][:-4] + "AAAA")
)
simple("token_expired", 401, "unauthorized", bearer(lambda w: f"Bearer {w.expired_token}"))
simple("token_revoked", 401, "unauthorized", bearer(lambda w: f"Bearer {w.revoked_token}"))
simple(
    "token_in_the_query",
    401,
    "unauthorized",
    lambda w: call("POST", f"{CAS}?token={w.api.secrets['admin']}", role=None, json=NEW_ROOT)(w),
)
simple("viewer_creates_a_ca", 403, "forbidden", call("POST", CAS, role="viewer", json=NEW_ROOT))
simple("operator_creates_a_ca", 403, "forbidden", call("POST", CAS, role="operator", json=NEW_ROOT))
simple(
    "operator_creates_a_token",
    403,
    "forbidden",
    call("POST", TOKENS, role="operator", json={"name": "mine", "role": "admin"}),
)
simple("operator_deletes_a_policy", 403, "forbidden", call("DELETE", f"{POLICIES}/internal", role="operator"))
simple(
    "operator_creates_an_eab_key", 403, "forbidden", call("POST", f"{CM}/eab-keys", role="operator", json={})
)
simple(
    "viewer_requests_a_certificate", 403, "forbidden", call("POST", REQUESTS, role="viewer", json=managed())
)
simple(
    "viewer_revokes_a_certificate",
    403,
    "forbidden",
    call("POST", cert_path("/revoke"), role="viewer", json={}),
)
simple("viewer_deletes_a_certificate", 403, "forbidden", call("DELETE", cert_path(), role="viewer"))

# --- the body ------------------------------------------------------------------------------------------

simple(
    "body_form_encoded",
    400,
    "invalid-field",
    call(
        "POST",
        CAS,
        content=b"type=root&name=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ),
)
simple(
    "body_truncated_json", 400, "invalid-field", call("POST", CAS, content=b'{"type": "root", "name": "x"')
)
simple(
    "body_invalid_utf8", 400, "invalid-field", call("POST", CAS, content=b'{"type": "root", "name": "\xff"}')
)
simple("body_json_array", 400, "invalid-field", call("POST", CAS, json=[NEW_ROOT]))
simple("body_json_string", 400, "invalid-field", call("POST", CAS, json="root"))
simple("body_json_null_for_a_required_body", 400, "invalid-field", call("POST", CAS, content=b"null"))
simple(
    "body_nested_2000_deep",
    400,
    "invalid-field",
    call("POST", CAS, content=b'{"type": "root", "name": ' + b"[" * 2000 + b"]" * 2000 + b"}"),
)
simple("unknown_field", 400, "invalid-field", call("POST", CAS, json={**NEW_ROOT, "isAdmin": True}))
simple(
    "unknown_nested_field",
    400,
    "invalid-field",
    call("POST", REQUESTS, role="operator", json=managed(serialNumber="01")),
)
simple("required_field_missing", 400, "invalid-field", call("POST", CAS, json={"type": "root"}))
simple("name_a_number", 400, "invalid-field", call("POST", CAS, json={"type": "root", "name": 7}))
simple("name_empty", 400, "invalid-field", call("POST", CAS, json={"type": "root", "name": ""}))
simple(
    "name_201_characters", 400, "invalid-field", call("POST", CAS, json={"type": "root", "name": "n" * 201})
)
simple("name_with_nul", 400, "invalid-field", call("POST", POLICIES, json={"name": "a\0b"}))
simple("key_with_nul", 400, "invalid-field", call("POST", POLICIES, json={"name": "p", "a\0": 1}))
simple("ca_type_unknown", 400, "invalid-field", call("POST", CAS, json={"type": "self", "name": "x"}))
simple(
    "key_algorithm_unknown",
    400,
    "invalid-field",
    call("POST", CAS, json={**NEW_ROOT, "keyAlgorithm": "RSA_512"}),
)
simple(
    "intermediate_without_parent",
    400,
    "invalid-field",
    call("POST", CAS, json={"type": "intermediate", "name": "orphan"}),
)
simple(
    "intermediate_of_an_unknown_parent",
    404,
    "not-found",
    call("POST", CAS, json={"type": "intermediate", "name": "orphan", "parent": "no-such-ca"}),
)
simple("ca_ttl_a_number", 400, "invalid-field", call("POST", CAS, json={**NEW_ROOT, "ttl": 30}))
simple("ca_ttl_negative", 400, "invalid-field", call("POST", CAS, json={**NEW_ROOT, "ttl": "-1d"}))
simple("ca_ttl_not_a_duration", 400, "invalid-field", call("POST", CAS, json={**NEW_ROOT, "ttl": "forever"}))
simple("ca_ttl_99999_years", 400, "invalid-field", call("POST", CAS, json={**NEW_ROOT, "ttl": "99999y"}))
simple(
    "ca_path_length_negative", 400, "invalid-field", call("POST", CAS, json={**NEW_ROOT, "maxPathLength": -1})
)
simple(
    "ca_country_three_letters", 400, "invalid-field", call("POST", CAS, json={**NEW_ROOT, "country": "DEU"})
)
simple("token_role_unknown", 400, "invalid-field", call("POST", TOKENS, json={"name": "t", "role": "root"}))
simple(
    "token_lifetime_zero",
    400,
    "invalid-field",
    call("POST", TOKENS, json={"name": "t", "role": "viewer", "expiresIn": "0s"}),
)
simple(
    "policy_max_ttl_not_a_duration",
    400,
    "invalid-field",
    call("POST", POLICIES, json={"name": "p", "maxTtl": "a while"}),
)
simple(
    "policy_allowed_not_a_list",
    400,
    "invalid-field",
    call("POST", POLICIES, json={"name": "p", "altNames": {"dns": {"allowed": "*.example.internal"}}}),
)
simple(
    "profile_unknown_ca", 404, "not-found", call("POST", PROFILES, json={"name": "p", "caId": "no-such-ca"})
)
simple(
    "profile_unknown_policy",
    404,
    "not-found",
    call("POST", PROFILES, json={"name": "p", "caId": "corp-issuing", "policyId": "no-such-policy"}),
)
simple(
    "profile_extended_key_usage_unknown",
    400,
    "invalid-field",
    call("POST", PROFILES, json={"name": "p", "caId": "corp-issuing", "extendedKeyUsages": ["everything"]}),
)
simple(
    "profile_default_ttl_over_max_ttl",
    400,
    "invalid-field",
    call("POST", PROFILES, json={"name": "p", "caId": "corp-issuing", "defaultTtl": "90d", "maxTtl": "30d"}),
)
simple(
    "profile_renew_before_days_negative",
    400,
    "invalid-field",
    call("POST", PROFILES, json={"name": "p", "caId": "corp-issuing", "renewBeforeDays": -1}),
)
simple(
    "profile_rename_by_patch",
    400,
    "invalid-field",
    call("PATCH", f"{PROFILES}/web", json={"name": "renamed"}),
)
simple(
    "metadata_not_an_object",
    400,
    "invalid-field",
    call("PUT", cert_path("/metadata"), role="operator", json={"metadata": "team=x"}),
)
simple(
    "metadata_value_not_a_string",
    400,
    "invalid-field",
    call("PUT", cert_path("/metadata"), role="operator", json={"metadata": {"team": 1}}),
)
simple(
    "auto_renewal_enabled_a_string",
    400,
    "invalid-field",
    call("PUT", cert_path("/auto-renewal"), role="operator", json={"enabled": "yes"}),
)
simple(
    "revocation_reason_unknown",
    400,
    "invalid-field",
    call("POST", cert_path("/revoke"), role="operator", json={"revocationReason": "BOREDOM"}),
)
simple(
    "sync_destination_type_unknown",
    400,
    "invalid-field",
    lambda w: call(
        "POST",
        f"{CM}/syncs",
        role="operator",
        json={"name": "s", "certificateId": w.active, "destinationType": "ftp", "config": {}},
    )(w),
)

# --- certificate requests: CSRs, names and lifetimes -------------------------------------------------

NOT_A_CSR = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
refused_request("csr_not_pem", "bad-csr", by_csr("certificate request"))
refused_request("csr_pem_of_a_certificate", "bad-csr", by_csr(NOT_A_CSR))
refused_request("csr_weak_key", "bad-public-key", by_csr(weak_csr_pem("w.svc.example.internal")))
refused_request("csr_name_outside_the_policy", "policy-violation", by_csr(csr_pem("evil.example.com")))
refused_request("managed_name_outside_the_policy", "policy-violation", managed(altNames=["evil.example.com"]))
refused_request("managed_name_invalid", "invalid-identifier", managed(altNames=["a..svc.example.internal"]))
refused_request("managed_ttl_over_the_profile_maximum", "invalid-field", managed(ttl="365d"))
simple(
    "request_profile_unknown",
    400,
    "invalid-field",
    call("POST", REQUESTS, role="operator", json={**managed(), "profile": "no-such-profile"}),
)
simple(
    "request_both_managed_and_csr",
    400,
    "invalid-field",
    call(
        "POST",
        REQUESTS,
        role="operator",
        json={**managed(), "csr": {"pem": csr_pem("m.svc.example.internal")}},
    ),
)
simple(
    "import_into_an_active_ca",
    409,
    "conflict",
    call("POST", f"{CAS}/corp-issuing/import", json={"certificate": "-----BEGIN CERTIFICATE-----\n"}),
)
simple(
    "import_garbage_pem",
    400,
    "invalid-field",
    call("POST", f"{CAS}/offline-issuing/import", json={"certificate": "x"}),
)

# --- names that clash, objects in use, ids that do not exist ------------------------------------------

simple("duplicate_ca_name", 409, "conflict", call("POST", CAS, json={"type": "root", "name": "corp-root"}))
simple("duplicate_policy_name", 409, "conflict", call("POST", POLICIES, json={"name": "internal"}))
simple(
    "duplicate_profile_name",
    409,
    "conflict",
    call("POST", PROFILES, json={"name": "web", "caId": "corp-issuing"}),
)
simple("delete_a_policy_in_use", 409, "conflict", call("DELETE", f"{POLICIES}/internal"))
simple("delete_a_profile_in_use", 409, "conflict", call("DELETE", f"{PROFILES}/web"))
simple(
    "revoke_a_revoked_certificate",
    409,
    "already-revoked",
    call("POST", cert_path("/revoke", "revoked"), role="operator", json={}),
)
simple(
    "renew_a_revoked_certificate",
    409,
    "conflict",
    call("POST", cert_path("/renew", "revoked"), role="operator"),
)
simple("unknown_policy", 404, "not-found", call("PATCH", f"{POLICIES}/no-such-policy", json={}))
simple("unknown_profile", 404, "not-found", call("DELETE", f"{PROFILES}/no-such-profile"))
simple(
    "unknown_certificate_revoked",
    404,
    "not-found",
    call("POST", f"{CM}/certificates/no-such-certificate/revoke", role="operator", json={}),
)
simple(
    "unknown_certificate_metadata",
    404,
    "not-found",
    call("PUT", f"{CM}/certificates/no-such-certificate/metadata", role="operator", json={"metadata": {}}),
)
simple("unknown_ca_disabled", 404, "not-found", call("POST", f"{CAS}/no-such-ca/disable"))
simple("unknown_token_deleted", 404, "not-found", call("DELETE", f"{TOKENS}/no-such-token"))
simple("unknown_eab_key_deleted", 404, "not-found", call("DELETE", f"{CM}/eab-keys/no-such-kid"))
simple(
    "eab_key_for_an_unknown_profile",
    404,
    "not-found",
    call("POST", f"{CM}/eab-keys", json={"profile": "nope"}),
)
simple("path_traversal_in_a_name", 404, "not-found", call("DELETE", f"{POLICIES}/..%2F..%2Ftokens"))
simple("path_with_nul", 404, "not-found", call("DELETE", f"{PROFILES}/web%00"))
simple("unknown_path", 404, "not-found", call("POST", f"{CM}/no-such-resource", json={}))
simple("method_not_allowed", 405, "method-not-allowed", call("DELETE", CAS))
simple("query_parameter_unknown", 400, "invalid-field", call("GET", f"{CM}/certificates?drop=table"))
simple("query_limit_zero", 400, "invalid-field", call("GET", f"{CM}/certificates?limit=0"))
simple("query_limit_not_an_integer", 400, "invalid-field", call("GET", f"{CM}/certificates?limit=ten"))
simple("query_status_unknown", 400, "invalid-field", call("GET", f"{CM}/certificates?status=lost"))


# --- the corpus ----------------------------------------------------------------------------------------


async def test_the_corpus_names_at_least_40_distinct_cases() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)) and len(names) >= 40


@pytest.mark.parametrize("hostile", CASES, ids=[c.name for c in CASES])
async def test_hostile_api_request_is_refused_and_stores_nothing(world: World, hostile: Case[World]) -> None:
    recorded = ("certificate_requests",) if hostile.records_failure else ()
    async with unchanged(world.api.rt.storage, may_add=recorded) as added:
        response = await hostile.send(world)
    document = problem_of(response, hostile, PROBLEM + hostile.type)
    assert document["title"] == TITLES[hostile.type]
    if hostile.records_failure:
        [failed] = added["certificate_requests"]
        assert (failed["status"], failed["error"], failed["certificate_id"]) == (
            "failed",
            document["detail"],
            None,
        )
