"""The one issuance pipeline, for ACME finalize, API requests (managed key or CSR), renew now and
auto-renewal: resolve the profile from one catalog generation -> check the request once (key, names,
policy) -> sign off the event loop -> record in the caller's one transaction, queueing the syncs ->
after the commit, hand the queued pushes on. Stage 4 is certificates.record_issued, the one place a
new certificate is stored. Entry points are thin adapters over these stages
(services/acme/finalize.py, inventory/requests.py, renewal/now.py, renewal/scheduler.py; issue_certificate
below)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from acme_server.services.config import cas, catalog
from acme_server.services.config.catalog import Catalog
from acme_server.services.delivery.pushes import PendingPushes, push_pending
from acme_server.services.inventory import certificates
from acme_server.services.inventory.certificates import CertificateInfo
from acme_server.services.runtime import Runtime
from ca_core.csr import parse_csr
from ca_core.errors import BadCSR, InvalidIdentifier, InvalidSetting
from ca_core.issuance import CheckedRequest, IssuedCertificate, check_request, issue, issue_self_signed
from ca_core.keys import KeyAlgorithm, PrivateKey, generate_key
from ca_core.names import check_email, check_uri, normalize_dns_name
from ca_core.policy import Policy
from ca_core.policy import check_request as check_policy
from ca_core.profile import EnrollmentMethod, IssuerType, Profile
from ca_core.request import CertificateRequest, Subject, SubjectAltNames
from ca_core.serials import random_serial


@dataclass(frozen=True)
class Issuer:
    """Stage 1: a profile, its policy, and the catalog generation both came from (the issuing CA is
    taken from that same generation when signing)."""

    id: str  # the profile's id
    profile: Profile
    policy: Policy | None
    configuration: Catalog


def resolve(configuration: Catalog, ref: str) -> Issuer:
    """The profile `ref` (id or name) as of `configuration`; NotFound when there is none. Each entry
    point adds its own rule on top (the enrollment method, and for ACME the issuer type)."""
    profile_id, profile = configuration.profile(ref)
    return Issuer(profile_id, profile, configuration.policy(profile.policy_id), configuration)


def api_issuer(configuration: Catalog, ref: str) -> Issuer:
    """A profile that allows API enrollment (API requests, the CLI, renewals)."""
    issuer = resolve(configuration, ref)
    if EnrollmentMethod.API not in issuer.profile.enrollment_methods:
        name = issuer.profile.name
        raise InvalidSetting(
            "profile", f"profile {name!r} does not allow {EnrollmentMethod.API.value} enrollment"
        )
    return issuer


def check(
    issuer: Issuer, request: CertificateRequest, ttl: timedelta | None, *, managed: bool = False
) -> CheckedRequest:
    """Stage 2, once per issuance and before anything is claimed or signed: the profile's key and
    name rules (ca_core.issuance.check_request, the one key-algorithm check), then its policy.
    `managed`: the server generated the key (a self-signed profile needs that)."""
    profile = issuer.profile
    if profile.issuer_type is IssuerType.SELF_SIGNED and not managed:
        raise InvalidSetting(
            "csr", "a self-signed profile needs a server-generated key; use a managed request"
        )
    checked = check_request(profile, request)
    if issuer.policy is not None:
        check_policy(issuer.policy, request, ttl=profile.resolve_ttl(ttl))
    return checked


async def sign(
    rt: Runtime,
    issuer: Issuer,
    checked: CheckedRequest,
    *,
    ttl: timedelta | None,
    not_before: datetime | None = None,
    private_key: PrivateKey | None = None,
) -> IssuedCertificate:
    """Stage 3: sign off the event loop (rule 9), with the CA of the issuer's catalog generation
    (built once per generation)."""
    profile = issuer.profile
    if profile.issuer_type is IssuerType.SELF_SIGNED:
        assert private_key is not None  # check(managed=True) let it through
        return await asyncio.to_thread(
            issue_self_signed,
            profile,
            checked,
            private_key,
            serial=random_serial(),
            now=rt.clock.now(),
            ttl=ttl,
        )
    assert profile.ca_id is not None  # Profile validation guarantees it for issuer type CA
    authority = cas.authority_in(rt, issuer.configuration, profile.ca_id)
    return await asyncio.to_thread(
        issue,
        authority,
        profile,
        checked,
        serial=random_serial(),
        now=rt.clock.now(),
        ttl=ttl,
        not_before=not_before,
        private_key=private_key,
    )


async def publish(rt: Runtime, pending: PendingPushes) -> None:
    """Stage 5, after the commit: in a server the push worker takes the queue (never the request's
    path); without one (the CLI) the pushes run here. Failures land on each sync, never raised."""
    await push_pending(rt, pending)


# The API's inputs: a CSR, or a key the server generates and keeps.


@dataclass(frozen=True)
class ManagedRequest:
    """A certificate whose key the server generates and keeps (sealed)."""

    subject: Subject
    sans: SubjectAltNames = field(default_factory=SubjectAltNames)
    key_algorithm: KeyAlgorithm = KeyAlgorithm.EC_prime256v1


def normalize_sans(sans: SubjectAltNames) -> SubjectAltNames:
    """Syntax-check and normalise requested SANs (lower-case DNS names, A-labels)."""
    for email in sans.email:
        check_email(email)
    for uri in sans.uri:
        check_uri(uri)
    return SubjectAltNames(
        dns=tuple(dict.fromkeys(normalize_dns_name(n) for n in sans.dns)),
        ip=tuple(dict.fromkeys(sans.ip)),
        email=sans.email,
        uri=sans.uri,
    )


def _csr_request(csr_pem: bytes) -> CertificateRequest:
    request = parse_csr(csr_pem)
    try:
        sans = normalize_sans(request.sans)
    except InvalidIdentifier as exc:
        raise BadCSR(f"CSR names an invalid identifier: {exc.detail}") from None
    return CertificateRequest(subject=request.subject, sans=sans, public_key=request.public_key)


def check_method(csr_pem: bytes | None, managed: ManagedRequest | None) -> None:
    if (csr_pem is None) == (managed is None):
        raise InvalidSetting("method", "give either a CSR or a managed request")


async def sign_requested(
    rt: Runtime,
    issuer: Issuer,
    *,
    csr_pem: bytes | None,
    managed: ManagedRequest | None,
    ttl: timedelta | None,
) -> IssuedCertificate:
    """Stages 2 and 3 for an API request: the request from the CSR, or a fresh key (off the loop)."""
    private_key: PrivateKey | None = None
    if csr_pem is not None:
        request = _csr_request(csr_pem)
    else:
        assert managed is not None
        private_key = await asyncio.to_thread(generate_key, managed.key_algorithm)
        request = CertificateRequest(managed.subject, normalize_sans(managed.sans), private_key.public_key())
    checked = check(issuer, request, ttl, managed=private_key is not None)
    return await sign(rt, issuer, checked, ttl=ttl, private_key=private_key)


async def issue_certificate(
    rt: Runtime,
    *,
    profile: str,
    csr_pem: bytes | None = None,
    managed: ManagedRequest | None = None,
    ttl: timedelta | None = None,
    metadata: dict[str, str] | None = None,
    friendly_name: str = "",
    enrollment: str = "api",
) -> CertificateInfo:
    """Issue from exactly one of a CSR or a managed request and store it (the CLI, the dev setup and
    library callers; the API's certificate requests keep a request row too:
    services/inventory/requests.py)."""
    check_method(csr_pem, managed)
    issuer = api_issuer(await catalog.current(rt), profile)
    issued = await sign_requested(rt, issuer, csr_pem=csr_pem, managed=managed, ttl=ttl)
    async with rt.storage.transaction() as tx:
        stored, pushes = await certificates.record_issued(
            rt,
            tx,
            issued,
            profile_id=issuer.id,
            profile=issuer.profile,
            enrollment=enrollment,
            metadata=metadata,
            friendly_name=friendly_name,
        )
    await publish(rt, pushes)
    return stored
