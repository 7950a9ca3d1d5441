"""The camelCase JSON views of service values (their shapes are the response schemas in schemas.py)."""

from __future__ import annotations

from typing import Any

from acme_server.services.access.tokens import TokenInfo
from acme_server.services.acme.eab import EABKey
from acme_server.services.config.cas import CAInfo
from acme_server.services.config.policies import PolicyInfo
from acme_server.services.config.profiles import ProfileInfo
from acme_server.services.inventory.certificates import CertificateInfo
from acme_server.services.inventory.requests import RequestInfo
from acme_server.services.renewal.rotation_progress import RotationProgress
from acme_server.services.renewal.scheduler import RenewalStatus
from acme_server.services.status.crls import CRLInfo
from ca_core.export import PemBundle


def ca(info: CAInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "name": info.name,
        "type": info.kind,
        "status": info.status,
        "parentId": info.parent_id,
        "subject": info.subject,
        "keyAlgorithm": info.key_algorithm,
        "notBefore": info.not_before,
        "notAfter": info.not_after,
        "certificate": info.certificate_pem,
        "certificateChain": info.chain_pem,
        "csr": info.csr_pem,
        "keyUri": info.key_uri,
        "crlUrl": info.settings.crl_url,
        "ocspUrl": info.settings.ocsp_url,
        "issuerUrl": info.settings.issuer_url,
        "maxPathLength": info.settings.max_path_length,
        "statusUrl": info.settings.status_url,
        "crlPartitions": info.settings.crl_partitions,
        "crlUrls": info.crl_urls,
        "createdAt": info.created_at,
    }


def rotation(progress: RotationProgress) -> dict[str, Any]:
    r = progress.rotation
    return {
        "id": r.id,
        "oldCaId": r.old_ca_id,
        "oldCa": r.old_ca,
        "newCaId": r.new_ca_id,
        "newCa": r.new_ca,
        "state": r.state.value,
        "spreadSeconds": int(r.spread.total_seconds()),
        "graceSeconds": int(r.grace.total_seconds()),
        "startedAt": r.started_at,
        "finishedAt": r.finished_at,
        "progress": {
            "asOf": progress.as_of,
            "onOldCa": progress.on_old,
            "renewed": progress.renewed,
            "notRenewing": progress.not_renewing,
            "waiting": progress.waiting,
        },
        "oldCaCrl": {"publishedUntil": progress.crl_until, "published": progress.crl_published},
    }


def crl(info: CRLInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "caId": info.ca_id,
        "crlNumber": info.number,
        "partition": info.partition,
        "thisUpdate": info.this_update,
        "nextUpdate": info.next_update,
        "crl": info.pem,
    }


def policy(info: PolicyInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "name": info.name,
        "createdAt": info.created_at,
        "updatedAt": info.updated_at,
        **info.policy.to_document(),
    }


def profile(info: ProfileInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "name": info.name,
        "slug": info.name,
        "createdAt": info.created_at,
        "updatedAt": info.updated_at,
        **info.profile.to_document(),
    }


def certificate(info: CertificateInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "serialNumber": info.serial,
        "commonName": info.common_name,
        "friendlyName": info.friendly_name,
        "status": info.status,
        "caId": info.ca_id,
        "profileId": info.profile_id,
        "notBefore": info.not_before,
        "notAfter": info.not_after,
        "altNames": info.details.sans.all_strings(),
        "keyAlgorithm": info.details.key_algorithm,
        "enrollment": info.enrollment,
        "privateKey": "managed" if info.has_private_key else "external",
        "autoRenew": info.auto_renew,
        "renewedFromId": info.renewed_from_id,
        "renewedById": info.renewed_by_id,
        "revokedAt": info.revoked_at,
        "revocationReason": info.revocation_reason,
        "createdAt": info.created_at,
        "metadata": info.metadata,
    }


def certificate_details(
    info: CertificateInfo, *, profile_name: str | None, renewal_chain: list[str]
) -> dict[str, Any]:
    """Everything the seed's details page shows: overview, issuance (with the renewal chain), subject
    attributes, extensions, cryptographic info, metadata."""
    d = info.details
    subject = d.subject
    return {
        **certificate(info),
        "overview": {
            "commonName": d.common_name,
            "friendlyName": info.friendly_name,
            "status": info.status,
            "serialNumber": info.serial,
            "notBefore": info.not_before,
            "notAfter": info.not_after,
        },
        "issuance": {
            "caId": info.ca_id,
            "issuer": d.issuer,
            "profileId": info.profile_id,
            "profileName": profile_name,
            "enrollment": info.enrollment,
            "renewedFromId": info.renewed_from_id,
            "renewedById": info.renewed_by_id,
            "renewalChain": renewal_chain,
        },
        "subjectAttributes": {
            "commonName": subject.common_name,
            "organization": subject.organization,
            "organizationalUnit": subject.organizational_unit,
            "country": subject.country,
            "state": subject.state,
            "locality": subject.locality,
            "distinguishedName": d.subject_dn,
            "altNames": d.sans.all_strings(),
        },
        "extensions": {
            "basicConstraints": {"ca": d.is_ca, "pathLength": d.path_length},
            "keyUsages": list(d.key_usages),
            "extendedKeyUsages": list(d.extended_key_usages),
            "crlDistributionPoints": list(d.crl_urls),
            "ocspUrls": list(d.ocsp_urls),
        },
        "cryptographicInfo": {
            "keyAlgorithm": d.key_algorithm,
            "signatureAlgorithm": d.signature_algorithm,
            "fingerprintSha256": d.fingerprint_sha256,
            "fingerprintSha1": d.fingerprint_sha1,
        },
        "certificate": info.certificate_pem,
        "certificateChain": info.chain_pem,
    }


def certificate_request(info: RequestInfo, issued: CertificateInfo | None) -> dict[str, Any]:
    return {
        "id": info.id,
        "profileId": info.profile_id,
        "method": info.method,
        "status": info.status,
        "parameters": info.parameters,
        "csr": info.csr_pem,
        "certificateId": info.certificate_id,
        "certificate": certificate(issued) if issued is not None else None,
        "error": info.error,
        "createdAt": info.created_at,
        "metadata": info.metadata,
    }


def eab_key(key: EABKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "profile": key.profile,
        "createdAt": key.created_at,
        "maxAccounts": key.max_accounts,
        "accountCount": key.account_count,
        "disabledAt": key.disabled_at,
        "accounts": [{"id": b.account_id, "status": b.status, "boundAt": b.bound_at} for b in key.bindings],
    }


def token(info: TokenInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "name": info.name,
        "role": info.role.value,
        "createdAt": info.created_at,
        "expiresAt": info.expires_at,
        "lastUsedAt": info.last_used_at,
    }


def page(key: str, items: list[dict[str, Any]], total: int, limit: int, offset: int) -> dict[str, Any]:
    return {key: items, "totalCount": total, "limit": limit, "offset": offset}


def pem_export(serial: str, bundle: PemBundle) -> dict[str, Any]:
    return {
        "serialNumber": serial,
        "certificate": bundle.certificate,
        "certificateChain": bundle.chain,
        "privateKey": bundle.private_key,
    }


def renewal_status(status: RenewalStatus) -> dict[str, Any]:
    return {
        "certificateId": status.certificate_id,
        "enabled": status.auto_renew,
        "eligible": status.eligible,
        "renewAfter": status.renew_after,
        "failures": status.failures,
        "nextAttemptAt": status.next_attempt_at,
        "lastError": status.last_error,
        "attempts": [
            {
                "attemptedAt": a.attempted_at,
                "outcome": a.outcome,
                "error": a.error,
                "successorId": a.successor_id,
            }
            for a in status.attempts
        ],
    }
