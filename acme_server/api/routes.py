"""The REST API route table: one Endpoint per operation. The Starlette routes, the role checks, the
request checks and the OpenAPI document are all built from this list."""

from __future__ import annotations

import functools
import re
from typing import Any

from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router

from acme_server.api import admin, audit, cas, certificates, openapi, syncs
from acme_server.api.configuration import POLICIES, PROFILES
from acme_server.api.http import Call, Dispatcher, Endpoint, Query, json_response, not_found
from acme_server.api.schemas import enum, string
from acme_server.services.access.tokens import Role
from acme_server.statuses import CertificateStatus, RequestStatus

ADMIN, OPERATOR, VIEWER = Role.ADMIN, Role.OPERATOR, Role.VIEWER
CM = "/cert-manager"

LIMIT = Query("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "page size (default 50)")
OFFSET = Query("offset", {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}, "items to skip (default 0)")
METADATA = Query("metadata", string(pattern="^[^=]+=.*$"), "key=value; repeat: all must match", repeated=True)
CERTIFICATE_FILTERS = (
    Query("status", enum(CertificateStatus), "certificate status"),
    Query("profile", string(), "certificate profile (id or name)"),
    Query("ca", string(), "issuing CA (id or name)"),
    Query("expiringBefore", string(format="date-time"), "not after earlier than this ISO date/time"),
    Query("search", string(), "part of the common name or of a SAN"),
    METADATA,
    LIMIT,
    OFFSET,
)
REQUEST_FILTERS = (
    Query("status", enum(RequestStatus), "request status"),
    Query("profile", string(), "certificate profile (id or name)"),
    METADATA,
    LIMIT,
    OFFSET,
)
SYNC_FILTERS = (
    Query("certificate", string(), "only the syncs of this certificate id"),
    Query("profile", string(), "only the syncs of this profile (id or name)"),
)
AUDIT_FILTERS = (
    Query("since", string(), "events at or after this ISO date/time, or this long ago (7d, 12h)"),
    Query("actor", string(), "the actor's name or id (token, OS user, account)"),
    Query("action", string(), "an action (ca.create) or all of a resource's (ca)"),
    Query("target", string(), "the target's id, or its kind (profile)"),
    LIMIT,
    OFFSET,
)
DEACTIVATE_ACCOUNTS = Query("deactivateAccounts", {"type": "boolean"}, "also deactivate the accounts bound")
EXPORT = (
    Query("format", string(enum=["pem", "pkcs12"]), "pem (JSON, default) or pkcs12 (binary keystore)"),
    Query("password", string(), "PKCS#12 password (required for pkcs12)"),
    Query("alias", string(), "PKCS#12 friendly name (default: the certificate id)"),
)


@functools.cache
def _document() -> dict[str, Any]:
    return openapi.build_document(ENDPOINTS)


async def openapi_document(call: Call) -> Response:
    return json_response(_document())


async def docs_page(call: Call) -> Response:
    return HTMLResponse(openapi.render_docs(_document()))


ENDPOINTS: tuple[Endpoint, ...] = (
    # documentation (no token)
    Endpoint("GET", "/openapi.json", openapi_document, None, "getOpenApi", "This OpenAPI document", "docs"),
    Endpoint("GET", "/docs", docs_page, None, "getDocs", "Browsable API docs (HTML)", "docs",
             media_type="text/html"),
    # CAs
    Endpoint("GET", f"{CM}/cas", cas.list_cas, VIEWER, "listCas", "List CAs", "cas", response="CAList"),
    Endpoint("POST", f"{CM}/cas", cas.create_ca, ADMIN, "createCa",
             "Create a root, intermediate or external CA", "cas", body="NewCA", response="CA", status=201,
             errors=(409,)),
    Endpoint("GET", f"{CM}/cas/{{ca}}", cas.get_ca, VIEWER, "getCa", "CA details", "cas", response="CA"),
    Endpoint("PATCH", f"{CM}/cas/{{ca}}", cas.update_ca, ADMIN, "updateCa",
             "Change the CA's status URL or CRL partitions (for certificates issued from now on)", "cas",
             body="CAUpdate", response="CA"),
    Endpoint("POST", f"{CM}/cas/{{ca}}/import", cas.import_certificate, ADMIN, "importCaCertificate",
             "Import the externally signed certificate of an external CA", "cas", body="CAImport",
             response="CA", errors=(409,)),
    Endpoint("POST", f"{CM}/cas/{{ca}}/disable", cas.disable_ca, ADMIN, "disableCa",
             "Disable a CA (it signs nothing until enabled)", "cas", response="CA", errors=(409,)),
    Endpoint("POST", f"{CM}/cas/{{ca}}/enable", cas.enable_ca, ADMIN, "enableCa", "Enable a disabled CA",
             "cas", response="CA", errors=(409,)),
    Endpoint("POST", f"{CM}/cas/{{ca}}/rotation", cas.start_rotation, ADMIN, "startCaRotation",
             "Rotate the CA onto another (or resume its rotation): profiles move, certificates renew",
             "cas", body="RotationInput", response="Rotation", errors=(409,)),
    Endpoint("GET", f"{CM}/cas/{{ca}}/rotation", cas.get_rotation, VIEWER, "getCaRotation",
             "The CA's rotation and its progress", "cas", response="Rotation"),
    Endpoint("POST", f"{CM}/cas/{{ca}}/rotation/finish", cas.finish_rotation, ADMIN, "finishCaRotation",
             "Finish the rotation: disable the old CA (refused while certificates depend on it)", "cas",
             body="RotationFinish", response="Rotation", errors=(409,)),
    Endpoint("POST", f"{CM}/cas/{{ca}}/rotation/cancel", cas.cancel_rotation, ADMIN, "cancelCaRotation",
             "Cancel the rotation (profiles stay on the new CA)", "cas", response="Rotation",
             errors=(409,)),
    Endpoint("GET", f"{CM}/cas/{{ca}}/crls", cas.list_crls, VIEWER, "listCaCrls",
             "List the CA's CRLs (PEM), newest first", "cas", response="CRLList", errors=(409,)),
    Endpoint("GET", f"{CM}/ca/internal/{{ca}}/crls", cas.list_crls, VIEWER, "listCaCrlsSeedPath",
             "List the CA's CRLs at the seed's path (same as cas/{ca}/crls)", "cas", response="CRLList",
             errors=(409,)),
    # policies
    Endpoint("GET", f"{CM}/certificate-policies", POLICIES.listing, VIEWER, "listPolicies",
             "List certificate policies", "certificate-policies", response="PolicyList"),
    Endpoint("POST", f"{CM}/certificate-policies", POLICIES.create, ADMIN, "createPolicy",
             "Create a certificate policy", "certificate-policies", body="NewPolicy", response="Policy",
             status=201, errors=(409,)),
    Endpoint("GET", f"{CM}/certificate-policies/{{policy}}", POLICIES.get, VIEWER, "getPolicy",
             "Certificate policy details", "certificate-policies", response="Policy"),
    Endpoint("PUT", f"{CM}/certificate-policies/{{policy}}", POLICIES.replace, ADMIN,
             "replacePolicy", "Replace a policy's settings (missing fields take defaults)",
             "certificate-policies", body="PolicyInput", response="Policy"),
    Endpoint("PATCH", f"{CM}/certificate-policies/{{policy}}", POLICIES.patch, ADMIN,
             "updatePolicy", "Change some of a policy's settings", "certificate-policies",
             body="PolicyInput", response="Policy"),
    Endpoint("DELETE", f"{CM}/certificate-policies/{{policy}}", POLICIES.delete, ADMIN,
             "deletePolicy", "Delete a policy no profile uses", "certificate-policies", status=204,
             errors=(409,)),
    # profiles
    Endpoint("GET", f"{CM}/certificate-profiles", PROFILES.listing, VIEWER, "listProfiles",
             "List certificate profiles", "certificate-profiles", response="ProfileList"),
    Endpoint("POST", f"{CM}/certificate-profiles", PROFILES.create, ADMIN, "createProfile",
             "Create a certificate profile", "certificate-profiles", body="NewProfile", response="Profile",
             status=201, errors=(409,)),
    Endpoint("GET", f"{CM}/certificate-profiles/{{profile}}", PROFILES.get, VIEWER, "getProfile",
             "Certificate profile details", "certificate-profiles", response="Profile"),
    Endpoint("PUT", f"{CM}/certificate-profiles/{{profile}}", PROFILES.replace, ADMIN,
             "replaceProfile", "Replace a profile's settings (missing fields take defaults)",
             "certificate-profiles", body="ProfileInput", response="Profile"),
    Endpoint("PATCH", f"{CM}/certificate-profiles/{{profile}}", PROFILES.patch, ADMIN,
             "updateProfile", "Change some of a profile's settings", "certificate-profiles",
             body="ProfileInput", response="Profile"),
    Endpoint("DELETE", f"{CM}/certificate-profiles/{{profile}}", PROFILES.delete, ADMIN,
             "deleteProfile", "Delete a profile no certificate uses (409 otherwise)", "certificate-profiles",
             status=204, errors=(409,)),
    Endpoint("GET", f"{CM}/certificate-profiles/{{profile}}/certificates/latest", certificates.latest_bundle,
             OPERATOR, "getLatestActiveBundle",
             "The newest active certificate of a profile (following renewals) with chain and key",
             "certificate-profiles", response="PemExport"),
    # certificate requests
    Endpoint("POST", f"{CM}/certificate-requests", certificates.create_request, OPERATOR,
             "createCertificateRequest", "Request a certificate: managed key or CSR", "certificate-requests",
             body="NewCertificateRequest", response="CertificateRequest", status=201, errors=(409,)),
    Endpoint("GET", f"{CM}/certificate-requests", certificates.list_requests, VIEWER,
             "listCertificateRequests", "List certificate requests", "certificate-requests",
             response="CertificateRequestList", query=REQUEST_FILTERS),
    Endpoint("GET", f"{CM}/certificate-requests/{{request}}", certificates.get_request, VIEWER,
             "getCertificateRequest", "A request's status and resulting certificate", "certificate-requests",
             response="CertificateRequest"),
    # certificates
    Endpoint("GET", f"{CM}/certificates", certificates.list_certificates, VIEWER, "listCertificates",
             "List certificates (paged, filtered)", "certificates", response="CertificateList",
             query=CERTIFICATE_FILTERS),
    Endpoint("GET", f"{CM}/certificates/{{certificate}}", certificates.get_certificate, VIEWER,
             "getCertificate", "Certificate details", "certificates", response="CertificateDetails"),
    Endpoint("PUT", f"{CM}/certificates/{{certificate}}/metadata", certificates.replace_metadata, OPERATOR,
             "replaceCertificateMetadata", "Replace a certificate's metadata", "certificates",
             body="MetadataInput", response="Certificate"),
    Endpoint("PATCH", f"{CM}/certificates/{{certificate}}/metadata", certificates.patch_metadata, OPERATOR,
             "updateCertificateMetadata", "Set or remove (null) some metadata keys", "certificates",
             body="MetadataPatch", response="Certificate"),
    Endpoint("DELETE", f"{CM}/certificates/{{certificate}}", certificates.delete_certificate, OPERATOR,
             "deleteCertificate", "Remove a certificate from the inventory", "certificates", status=204),
    Endpoint("GET", f"{CM}/certificates/{{certificate}}/export", certificates.export_certificate, OPERATOR,
             "exportCertificate", "Export as PEM (JSON) or PKCS#12 (application/x-pkcs12)", "certificates",
             response="PemExport", query=EXPORT),
    Endpoint("POST", f"{CM}/certificates/{{certificate}}/revoke", certificates.revoke_certificate, OPERATOR,
             "revokeCertificate", "Revoke; the CA's CRL is regenerated", "certificates", body="Revocation",
             response="RevocationResult", errors=(409,)),
    Endpoint("POST", f"{CM}/certificates/{{certificate}}/renew", certificates.renew_certificate, OPERATOR,
             "renewCertificate", "Renew now: a successor with the same subject, SANs, profile and metadata "
             "(an ACME-issued certificate is returned marked instead: its renewalInfo window moves into "
             "the past, so its ACME client renews it)",
             "certificates", response="Certificate", status=201, errors=(409,)),
    Endpoint("GET", f"{CM}/certificates/{{certificate}}/auto-renewal", certificates.get_auto_renewal,
             VIEWER, "getAutoRenewal", "Server-driven renewal: on/off, eligibility, when due, attempts",
             "certificates", response="AutoRenewal"),
    Endpoint("PUT", f"{CM}/certificates/{{certificate}}/auto-renewal", certificates.set_auto_renewal,
             OPERATOR, "setAutoRenewal", "Switch server-driven renewal on (API, server-held key) or off",
             "certificates", body="AutoRenewalInput", response="AutoRenewal", errors=(409,)),
    # syncs (api/syncs.py)
    Endpoint("GET", f"{CM}/syncs", syncs.list_syncs, VIEWER, "listSyncs",
             "List syncs with their last push (never their secrets)", "syncs", response="SyncList",
             query=SYNC_FILTERS),
    Endpoint("POST", f"{CM}/syncs", syncs.create_sync, OPERATOR, "createSync",
             "Bind a certificate or a profile's latest to a destination; pushes at once", "syncs",
             body="NewSync", response="Sync", status=201, errors=(409,),
             forbidden="an operator's too when it names config.reloadCommand (or an aws-acm endpointUrl),"
             " or a directory sync while the server lists no sync_directories"),
    Endpoint("GET", f"{CM}/syncs/{{sync}}", syncs.get_sync, VIEWER, "getSync",
             "A sync (id or name) and its last push", "syncs", response="Sync"),
    Endpoint("POST", f"{CM}/syncs/{{sync}}/run", syncs.run_sync, OPERATOR, "runSync",
             "Push now; the outcome is in lastStatus and lastError", "syncs", response="Sync"),
    Endpoint("DELETE", f"{CM}/syncs/{{sync}}", syncs.delete_sync, OPERATOR, "deleteSync",
             "Delete a sync (what it pushed stays)", "syncs", status=204),
    # EAB keys and tokens
    Endpoint("GET", f"{CM}/eab-keys", admin.list_eab_keys, ADMIN, "listEabKeys",
             "List external account binding keys", "admin", response="EABKeyList",
             query=(Query("profile", string(), "only keys made for this profile"),)),
    Endpoint("POST", f"{CM}/eab-keys", admin.create_eab_key, ADMIN, "createEabKey",
             "Create an EAB key (the HMAC key is shown only now)", "admin", body="NewEABKey",
             response="EABKey", status=201),
    Endpoint("GET", f"{CM}/eab-keys/{{kid}}", admin.get_eab_key, ADMIN, "getEabKey",
             "An EAB key and the accounts it bound", "admin", response="EABKey"),
    Endpoint("POST", f"{CM}/eab-keys/{{kid}}/disable", admin.disable_eab_key, ADMIN, "disableEabKey",
             "Stop an EAB key binding accounts; optionally deactivate those it bound", "admin",
             body="EABKeyDisable", response="EABKey"),
    Endpoint("POST", f"{CM}/eab-keys/{{kid}}/enable", admin.enable_eab_key, ADMIN, "enableEabKey",
             "Let a disabled EAB key bind accounts again", "admin", response="EABKey"),
    Endpoint("DELETE", f"{CM}/eab-keys/{{kid}}", admin.delete_eab_key, ADMIN, "deleteEabKey",
             "Delete an EAB key; one that bound accounts only with deactivateAccounts=true", "admin",
             status=204, errors=(409,), query=(DEACTIVATE_ACCOUNTS,)),
    Endpoint("GET", "/tokens", admin.list_tokens, ADMIN, "listTokens", "List API tokens", "admin",
             response="TokenList"),
    Endpoint("POST", "/tokens", admin.create_token, ADMIN, "createToken",
             "Create an API token (the secret is shown only now)", "admin", body="NewToken", response="Token",
             status=201),
    Endpoint("DELETE", "/tokens/{token}", admin.delete_token, ADMIN, "deleteToken",
             "Revoke an API token (id or name)", "admin", status=204),
    Endpoint("GET", "/audit", audit.list_events, ADMIN, "listAuditEvents",
             "The audit log: every admin change with who, when and the request id (paged, newest first)",
             "admin", response="AuditEventList", query=AUDIT_FILTERS),
)  # fmt: skip


def routes(endpoints: tuple[Endpoint, ...] = ENDPOINTS) -> list[BaseRoute]:
    """One Starlette route per path, dispatching on the method (405 problem for the others)."""
    by_path: dict[str, dict[str, Endpoint]] = {}
    for endpoint in endpoints:
        by_path.setdefault(endpoint.path, {})[endpoint.method] = endpoint
    return [Route(path, Dispatcher(methods), name=f"api:{path}") for path, methods in by_path.items()]


def api_app() -> Router:
    """The API's router: the routes, and a problem document for unknown paths."""
    return Router(routes=routes(), default=not_found)


def api_mount() -> Mount:
    """What app.py mounts: api_app at /api/v1. Starlette's mount pattern ends in `.*`, which stops at a
    newline, so /api/v1/cas/%0Ax fell through to the app's ACME 404; here it matches any path below."""
    mount = Mount(openapi.API_PREFIX, app=api_app(), name="api")
    mount.path_regex = re.compile(mount.path_regex.pattern, re.DOTALL)
    return mount
