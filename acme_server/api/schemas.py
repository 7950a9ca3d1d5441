"""The JSON Schemas of the REST API: request bodies are checked against them (api/schema.py) and the
OpenAPI document lists them under components/schemas. Enums come from the code's own StrEnums."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from acme_server.services.access.tokens import Role
from acme_server.services.delivery.syncs import destination_types
from acme_server.statuses import (
    AccountStatus,
    CAStatus,
    CertificateStatus,
    RenewalOutcome,
    RequestStatus,
    RotationState,
    SyncStatus,
)
from ca_core.keys import KeyAlgorithm
from ca_core.profile import ChallengeType, EnrollmentMethod, ExtendedKeyUsage, IssuerType, KeyUsage
from ca_core.revocation import RevocationReason

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def enum(values: type[StrEnum], description: str = "") -> Schema:
    schema: Schema = {"type": "string", "enum": [v.value for v in values]}
    if description:
        schema["description"] = description
    return schema


def string(description: str = "", **extra: Any) -> Schema:
    return {"type": "string", **({"description": description} if description else {}), **extra}


def nullable(schema: Schema) -> Schema:
    return {**schema, "type": [schema["type"], "null"]}


def obj(
    properties: dict[str, Schema],
    *,
    required: tuple[str, ...] = (),
    closed: bool = True,
    description: str = "",
) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if description:
        schema["description"] = description
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


TIMESTAMP = string("RFC 3339 UTC time", format="date-time")
# Not JSON Schema's "duration" format: that one is ISO 8601 ("P30D"), which ca_core.durations does not
# read. Our own format name (api/schema.py checks it with parse_duration) and the syntax as a pattern:
# numbers with units, largest first, each unit once (case and surrounding spaces ignored).
DURATION_FORMAT = "acme-server-duration"
_UNITS = "ywdhms"


def _units(units: str) -> str:
    return "".join(f"([0-9]{{1,15}}[{u}{u.upper()}])?" for u in units)


# At least one unit: one alternative per largest unit, then the smaller ones, each optional.
DURATION_PATTERN = (
    r"^\s*("
    + "|".join(f"[0-9]{{1,15}}[{u}{u.upper()}]{_units(_UNITS[i + 1 :])}" for i, u in enumerate(_UNITS))
    + r")\s*$"
)
DURATION = string(
    "a duration like '30d', '12h30m' or '1y': units y (365 days), w, d, h, m, s, largest first;"
    " longer than zero and at most 36500d",
    format=DURATION_FORMAT,
    pattern=DURATION_PATTERN,
)
PEM = string("PEM text")
NAME = string("a unique name (also usable in URLs in place of the id)", minLength=1, maxLength=200)
METADATA = {
    "type": "object",
    "description": "key-value metadata",
    "additionalProperties": {"type": "string"},
}
SUBJECT_FIELDS: dict[str, Schema] = {
    "commonName": string("CN"),
    "organization": string("O"),
    "organizationalUnit": string("OU"),
    "country": string("C (two letters)", minLength=2, maxLength=2),
    "state": string("ST"),
    "locality": string("L"),
}
CA_SETTINGS: dict[str, Schema] = {
    "crlUrl": string("CRL distribution point written into what this CA issues (default: this server's)"),
    "ocspUrl": string("OCSP responder URL written into what this CA issues"),
    "issuerUrl": string("AIA caIssuers URL written into what this CA issues"),
    "maxPathLength": {"type": "integer", "minimum": 0, "description": "basicConstraints pathLen"},
}
# What can change after creation: where the CA's certificates send relying parties.
CA_STATUS_SETTINGS: dict[str, Schema] = {
    "statusUrl": string("base URL of the CRLs and OCSP this CA's certificates name (default: this server's)"),
    "crlPartitions": {
        "type": "integer",
        "minimum": 1,
        "maximum": 1024,
        "description": "CRLs new certificates are spread over (RFC 5280 §5.2.5 partitions; default 1)",
    },
}
PAGE = {
    "totalCount": {"type": "integer", "description": "how many match the filters"},
    "limit": {"type": "integer"},
    "offset": {"type": "integer"},
}


def _page(items: str, key: str) -> Schema:
    return obj({key: array(ref(items)), **PAGE}, required=(key, "totalCount", "limit", "offset"))


_NAME_RULE = obj({"allowed": array(string()), "denied": array(string())})
POLICY_DOCUMENT: dict[str, Schema] = {
    "description": string(),
    "commonName": _NAME_RULE,
    "altNames": obj({kind: _NAME_RULE for kind in ("dns", "ip", "email", "uri")}),
    "subject": obj(
        {
            "allowed": {"type": "object", "additionalProperties": array(string())},
            "required": array(string()),
        }
    ),
    "maxTtl": nullable(DURATION),
}
PROFILE_DOCUMENT: dict[str, Schema] = {
    "description": string(),
    "issuerType": enum(IssuerType),
    "caId": nullable(string("issuing CA (id or name); required for issuerType ca")),
    "policyId": nullable(string("policy (id or name) requests are checked against")),
    "defaultTtl": DURATION,
    "maxTtl": DURATION,
    "keyUsages": array(enum(KeyUsage)),
    "extendedKeyUsages": array(enum(ExtendedKeyUsage)),
    "basicConstraints": obj({"ca": {"type": "boolean"}, "pathLength": nullable({"type": "integer"})}),
    "allowedKeyAlgorithms": array(enum(KeyAlgorithm)),
    "renewBeforeDays": {"type": "integer", "minimum": 0},
    "autoRenewByDefault": {"type": "boolean"},
    "enrollmentMethods": array(enum(EnrollmentMethod)),
    "allowWildcards": {"type": "boolean"},
    "requireEab": {"type": "boolean"},
    "preAuthorized": array(string()),
    "authorizationReuse": string("a duration, or '0' for no reuse"),
    "maxBackdate": string("how far back an ACME order's notBefore may lie; '0' for not at all"),
    "renewalWindow": obj(
        {
            "start": {"type": "integer", "minimum": 0, "maximum": 100},
            "end": {"type": "integer", "minimum": 0, "maximum": 100},
        },
        description="ACME renewalInfo window (RFC 9773) in percent of the lifetime; start before end",
    ),
    "challengeTypes": array(enum(ChallengeType, "ACME challenge types new authorizations offer")),
}
_STORED = {"id": string(), "name": string(), "createdAt": TIMESTAMP, "updatedAt": TIMESTAMP}

CERTIFICATE_FIELDS: dict[str, Schema] = {
    "id": string(),
    "serialNumber": string("lowercase hex"),
    "commonName": string(),
    "friendlyName": string(),
    "status": enum(CertificateStatus),
    "caId": nullable(string()),
    "profileId": nullable(string()),
    "notBefore": TIMESTAMP,
    "notAfter": TIMESTAMP,
    "altNames": array(string()),
    "keyAlgorithm": string(),
    "enrollment": string(enum=["api", "acme", "cli"]),
    "privateKey": string(
        "managed: the server holds the key; external: the requester does", enum=["managed", "external"]
    ),
    "autoRenew": {"type": "boolean"},
    "renewedFromId": nullable(string()),
    "renewedById": nullable(string()),
    "revokedAt": nullable(TIMESTAMP),
    "revocationReason": nullable(string()),
    "createdAt": TIMESTAMP,
    "metadata": METADATA,
}

SCHEMAS: dict[str, Schema] = {
    "Problem": obj(
        {
            "type": string("urn:acme-server:problem:<kind>"),
            "title": string(),
            "status": {"type": "integer"},
            "detail": string(),
            "field": string("the request field at fault, e.g. managed.altNames[0]"),
            "violations": array(obj({"field": string(), "value": string(), "reason": string()})),
            "requestId": string("the request's id, as in the X-Request-ID header and the server's log"),
        },
        required=("type", "title", "status", "detail"),
    ),
    "CA": obj(
        {
            "id": string(),
            "name": string(),
            "type": string(enum=["root", "intermediate", "external"]),
            "status": enum(CAStatus),
            "parentId": nullable(string()),
            "subject": string("RFC 4514"),
            "keyAlgorithm": string(),
            "notBefore": nullable(TIMESTAMP),
            "notAfter": nullable(TIMESTAMP),
            "certificate": nullable(PEM),
            "certificateChain": PEM,
            "csr": nullable(string("PEM CSR of an external CA waiting for its signed certificate")),
            "keyUri": nullable(string("RFC 7512 URI of the key in a PKCS#11 token; null: sealed here")),
            **{key: nullable(value) for key, value in CA_SETTINGS.items()},
            **CA_STATUS_SETTINGS,
            "crlUrls": array(string("one per published partition, partition 0 first")),
            "createdAt": TIMESTAMP,
        }
    ),
    "CAUpdate": obj(CA_STATUS_SETTINGS),
    "CAList": obj({"cas": array(ref("CA"))}, required=("cas",)),
    "NewCA": obj(
        {
            "type": string(
                "root; intermediate (signed by parent); external (an intermediate for an offline root:"
                " returns its CSR, import the signed certificate later)",
                enum=["root", "intermediate", "external"],
            ),
            "name": NAME,
            "parent": string("the signing CA (id or name), for type intermediate"),
            **SUBJECT_FIELDS,
            "keyAlgorithm": enum(KeyAlgorithm),
            "pkcs11Uri": string(
                "keep the CA key in this server's PKCS#11 token: an RFC 7512 URI naming the token and the"
                " key (pkcs11:token=LABEL;object=LABEL[;id=...][;type=private]), generated there unless the"
                " token holds it. The module and the PIN are the server's own (serve --pkcs11-module,"
                " --pkcs11-pin-file or ACME_PKCS11_PIN): a URI with module-path, module-name, pin-source"
                " or pin-value is refused",
                pattern="^pkcs11:",
                maxLength=1024,
            ),
            "ttl": DURATION,
            **CA_SETTINGS,
            **CA_STATUS_SETTINGS,
        },
        required=("type", "name"),
    ),
    "CAImport": obj(
        {"certificate": PEM, "certificateChain": PEM},
        required=("certificate",),
    ),
    "Rotation": obj(
        {
            "id": string(),
            "oldCaId": string(),
            "oldCa": string("the old CA's name"),
            "newCaId": string(),
            "newCa": string("the new CA's name"),
            "state": enum(RotationState, "started, profiles_moved, renewing; then completed or cancelled"),
            "spreadSeconds": {"type": "integer", "description": "renewal moments lie within this"},
            "graceSeconds": {"type": "integer", "description": "after its moment plus this: not renewing"},
            "startedAt": TIMESTAMP,
            "finishedAt": nullable(TIMESTAMP),
            "progress": obj(
                {
                    "asOf": TIMESTAMP,
                    "onOldCa": {
                        "type": "integer",
                        "description": "active certificates still from the old CA",
                    },
                    "renewed": {"type": "integer", "description": "renewed by a certificate of the new CA"},
                    "notRenewing": {
                        "type": "integer",
                        "description": "moment plus grace passed, no successor",
                    },
                    "waiting": {"type": "integer", "description": "on the old CA, moment not yet passed"},
                }
            ),
            "oldCaCrl": obj(
                {
                    "publishedUntil": nullable(
                        TIMESTAMP
                        | {"description": "the last notAfter of what the old CA signed (null: nothing)"}
                    ),
                    "published": {
                        "type": "boolean",
                        "description": "false once the old CA is disabled and that moment passed: "
                        "its CRL is no longer refreshed",
                    },
                }
            ),
        }
    ),
    "RotationInput": obj(
        {
            "to": string("the new CA (id or name); with create, the name of the CA to create", minLength=1),
            "create": {"type": "boolean", "description": "create the new CA beside the old one"},
            "crossSign": {"type": "boolean", "description": "have the old CA's root sign the new CA too"},
            "spread": string("renewals spread over this long: a duration like '7d', or '0' (default 7d)"),
            "grace": string("a certificate counts as not renewing this long after its moment (default 1d)"),
        },
        required=("to",),
    ),
    "RotationFinish": obj(
        {"force": {"type": "boolean", "description": "disable the old CA although certificates remain"}}
    ),
    "CRL": obj(
        {
            "id": string(),
            "caId": string(),
            "crlNumber": {"type": "integer"},
            "partition": {"type": "integer", "description": "CRL partition (0 when not partitioned)"},
            "thisUpdate": TIMESTAMP,
            "nextUpdate": TIMESTAMP,
            "crl": PEM,
        }
    ),
    "CRLList": array(ref("CRL")),
    "Policy": obj({**_STORED, **POLICY_DOCUMENT}),
    "PolicyList": obj({"certificatePolicies": array(ref("Policy"))}, required=("certificatePolicies",)),
    "NewPolicy": obj({"name": NAME, **POLICY_DOCUMENT}, required=("name",)),
    "PolicyInput": obj(POLICY_DOCUMENT),  # PUT and PATCH: the name stays (create a new one instead)
    "Profile": obj({**_STORED, "slug": string("the name, as used in URLs"), **PROFILE_DOCUMENT}),
    "ProfileList": obj({"certificateProfiles": array(ref("Profile"))}, required=("certificateProfiles",)),
    "NewProfile": obj({"name": NAME, **PROFILE_DOCUMENT}, required=("name",)),
    "ProfileInput": obj(PROFILE_DOCUMENT),
    "ManagedRequest": obj(
        {
            **SUBJECT_FIELDS,
            "altNames": array(string("DNS name, IP address, e-mail or URI (typed by its syntax)")),
            "keyAlgorithm": enum(KeyAlgorithm),
            "ttl": DURATION,
        }
    ),
    "CsrRequest": obj({"pem": string("PEM PKCS#10", minLength=1), "ttl": DURATION}, required=("pem",)),
    "NewCertificateRequest": obj(
        {
            "profile": string("certificate profile (id or name)", minLength=1),
            "managed": ref("ManagedRequest"),
            "csr": ref("CsrRequest"),
            "friendlyName": string(),
            "metadata": METADATA,
        },
        required=("profile",),
    ),
    "CertificateRequest": obj(
        {
            "id": string(),
            "profileId": string(),
            "method": string(enum=["managed", "csr"]),
            "status": enum(RequestStatus),
            "parameters": {"type": "object"},
            "csr": nullable(PEM),
            "certificateId": nullable(string()),
            "certificate": {"anyOf": [ref("Certificate"), {"type": "null"}]},
            "error": nullable(string()),
            "createdAt": TIMESTAMP,
            "metadata": METADATA,
        }
    ),
    "CertificateRequestList": _page("CertificateRequest", "certificateRequests"),
    "Certificate": obj(CERTIFICATE_FIELDS),
    "CertificateList": _page("Certificate", "certificates"),
    "CertificateDetails": obj(
        {
            **CERTIFICATE_FIELDS,
            "overview": obj(
                {
                    "commonName": nullable(string()),
                    "friendlyName": string(),
                    "status": string(),
                    "serialNumber": string(),
                    "notBefore": TIMESTAMP,
                    "notAfter": TIMESTAMP,
                }
            ),
            "issuance": obj(
                {
                    "caId": nullable(string()),
                    "issuer": string("issuer DN (RFC 4514)"),
                    "profileId": nullable(string()),
                    "profileName": nullable(string()),
                    "enrollment": string(),
                    "renewedFromId": nullable(string()),
                    "renewedById": nullable(string()),
                    "renewalChain": array(string("certificate ids, oldest first, this one included")),
                }
            ),
            "subjectAttributes": obj(
                {
                    **{k: nullable(v) for k, v in SUBJECT_FIELDS.items()},
                    "distinguishedName": string(),
                    "altNames": array(string()),
                }
            ),
            "extensions": obj(
                {
                    "basicConstraints": obj(
                        {"ca": {"type": "boolean"}, "pathLength": nullable({"type": "integer"})}
                    ),
                    "keyUsages": array(string()),
                    "extendedKeyUsages": array(string()),
                    "crlDistributionPoints": array(string()),
                    "ocspUrls": array(string()),
                }
            ),
            "cryptographicInfo": obj(
                {
                    "keyAlgorithm": string(),
                    "signatureAlgorithm": string(),
                    "fingerprintSha256": string(),
                    "fingerprintSha1": string(),
                }
            ),
            "certificate": PEM,
            "certificateChain": PEM,
        }
    ),
    "MetadataInput": obj({"metadata": METADATA}, required=("metadata",)),
    "MetadataPatch": obj(
        {
            "metadata": {
                "type": "object",
                "description": "keys to set; a null value removes the key",
                "additionalProperties": {"type": ["string", "null"]},
            }
        },
        required=("metadata",),
    ),
    "AutoRenewal": obj(
        {
            "certificateId": string(),
            "enabled": {"type": "boolean"},
            "eligible": {
                "type": "boolean",
                "description": "the server can renew it: API, server-held key, active",
            },
            "renewAfter": nullable(TIMESTAMP),
            "failures": {"type": "integer"},
            "nextAttemptAt": nullable(TIMESTAMP),
            "lastError": nullable(string()),
            "attempts": array(
                obj(
                    {
                        "attemptedAt": TIMESTAMP,
                        "outcome": enum(RenewalOutcome),
                        "error": nullable(string()),
                        "successorId": nullable(string()),
                    }
                )
            ),
        }
    ),
    "AutoRenewalInput": obj({"enabled": {"type": "boolean"}}, required=("enabled",)),
    "PemExport": obj(
        {
            "certificateId": string("getLatestActiveBundle: which certificate is the newest active one"),
            "serialNumber": string(),
            "certificate": PEM,
            "certificateChain": PEM,
            "privateKey": nullable(string("PKCS#8 PEM; null when the requester holds the key")),
        }
    ),
    "Revocation": obj({"revocationReason": enum(RevocationReason)}),
    "RevocationResult": obj({"message": string(), "serialNumber": string(), "revokedAt": TIMESTAMP}),
    "EABKey": obj(
        {
            "kid": string(),
            "hmacKey": string("base64url HMAC key, only in the creation response"),
            "profile": nullable(string()),
            "createdAt": TIMESTAMP,
            "maxAccounts": nullable({"type": "integer", "minimum": 1, "description": "null: any number"}),
            "accountCount": {"type": "integer", "description": "accounts the key bound"},
            "disabledAt": nullable(TIMESTAMP),
            "accounts": array(ref("EABBinding")),
        }
    ),
    "EABBinding": obj(
        {
            "id": string("the ACME account"),
            "status": enum(AccountStatus),
            "boundAt": TIMESTAMP,
        }
    ),
    "EABKeyList": obj({"eabKeys": array(ref("EABKey"))}, required=("eabKeys",)),
    "NewEABKey": obj(
        {
            "profile": nullable(string("profile (id or name) the key is for; null: any")),
            "maxAccounts": nullable(
                {
                    "type": "integer",
                    "minimum": 1,
                    "description": "accounts the key may bind (default 1: single-use); null: any number",
                }
            ),
        }
    ),
    "EABKeyDisable": obj(
        {"deactivateAccounts": {"type": "boolean", "description": "also deactivate the accounts it bound"}}
    ),
    "Token": obj(
        {
            "id": string(),
            "name": string(),
            "role": enum(Role),
            "token": string("the bearer secret, only in the creation response"),
            "createdAt": TIMESTAMP,
            "expiresAt": nullable(TIMESTAMP),
            "lastUsedAt": nullable(TIMESTAMP),
        }
    ),
    "TokenList": obj({"tokens": array(ref("Token"))}, required=("tokens",)),
    # the audit log (api/audit.py)
    "AuditEvent": obj(
        {
            "id": string(),
            "at": TIMESTAMP,
            "actor": obj(
                {
                    "kind": string("token (API), ui, shell (CLI, by OS user), account (ACME) or system"),
                    "name": string(),
                    "id": nullable(string("the token's or account's id")),
                }
            ),
            "action": string("what was done, e.g. ca.create, token.revoke, certificate.export_key"),
            "target": obj({"kind": string(), "id": nullable(string())}),
            "detail": {"type": "object", "description": "what changed (never a secret)"},
            "requestId": nullable(string("the X-Request-ID of the request, as in the log lines")),
        }
    ),
    "AuditEventList": _page("AuditEvent", "events"),
    # syncs (api/syncs.py): secrets are write-only, every view shows only hasSecrets
    "Sync": obj(
        {
            "id": string(),
            "name": string(),
            "certificateId": nullable(string("the bound certificate (moves to each renewal)")),
            "profileId": nullable(string("or: the profile whose newest active certificate is pushed")),
            "destinationType": string(enum=destination_types()),
            "config": {"type": "object"},
            "hasSecrets": {"type": "boolean"},
            "state": {
                "type": "object",
                "description": "what the destination keeps, e.g. certificateArn; after a failed queued push"
                " also failedAttempts and nextAttemptAt (the retry)",
            },
            "lastStatus": enum(SyncStatus),
            "lastError": nullable(string()),
            "lastRunAt": nullable(TIMESTAMP),
            "lastCertificateId": nullable(string()),
            "nextPushAt": nullable(TIMESTAMP),
            "createdAt": TIMESTAMP,
        }
    ),
    "SyncList": obj({"syncs": array(ref("Sync"))}, required=("syncs",)),
    "NewSync": obj(
        {
            "name": string("letters, digits, '.', '-', '_'", minLength=1, maxLength=64),
            "destinationType": string(enum=destination_types()),
            "certificateId": string("push this certificate and its renewals", minLength=1),
            "profile": string("or: push this profile's newest active certificate (id or name)", minLength=1),
            "config": {
                "type": "object",
                "description": "directory: path, reloadCommand, reloadTimeout;"
                " aws-acm: region, endpointUrl, certificateArn, tags;"
                " azure-keyvault: vaultUrl, certificateName, tenantId, clientId, authorityHost, tags;"
                " webhook: url, body (bundle|metadata), includeKey, caCertificates, timeout",
            },
            "secrets": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "aws-acm: accessKeyId, secretAccessKey, sessionToken; azure-keyvault:"
                " clientSecret; webhook: hmacKey; stored sealed, never shown",
            },
            "push": {"type": "boolean", "description": "push at once (default true)"},
        },
        required=("name", "destinationType", "config"),
    ),
    "NewToken": obj(
        {"name": NAME, "role": enum(Role), "expiresIn": DURATION},
        required=("name", "role"),
    ),
}
