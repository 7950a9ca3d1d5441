"""/cert-manager/certificates (inventory: list with filters, details, metadata, delete, export, revoke,
renew) and /certificate-requests (issue with a managed key or from a CSR)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from acme_server.api import inputs, views
from acme_server.api.http import Call, json_response
from acme_server.services.config import profiles
from acme_server.services.inventory import certificates, edits, export, requests
from acme_server.services.inventory.certificates import CertificateFilter
from acme_server.services.renewal import now as renew
from acme_server.services.renewal import scheduler
from acme_server.statuses import CertificateStatus, RequestStatus
from ca_core.metadata import parse_pairs
from ca_core.revocation import RevocationReason


async def create_request(call: Call) -> dict[str, Any]:
    body = call.body
    managed, csr = body.get("managed"), body.get("csr")
    section = managed if managed is not None else csr or {}
    info, issued = await requests.create_request(
        call.rt,
        profile=body["profile"],
        managed=inputs.managed(managed) if managed is not None else None,
        csr_pem=csr["pem"].encode() if csr is not None else None,
        ttl=inputs.duration(section, "ttl", path="managed." if managed is not None else "csr."),
        metadata=body.get("metadata"),
        friendly_name=body.get("friendlyName", ""),
    )
    return views.certificate_request(info, issued)


async def get_request(call: Call) -> dict[str, Any]:
    info = await requests.get_request(call.rt, call.path["request"])
    issued = await certificates.get_certificate(call.rt, info.certificate_id) if info.certificate_id else None
    return views.certificate_request(info, issued)


async def list_requests(call: Call) -> dict[str, Any]:
    q = call.query
    limit, offset = q.get("limit", 50), q.get("offset", 0)
    found, total = await requests.list_requests(
        call.rt,
        status=RequestStatus(q["status"]) if "status" in q else None,  # checked against the enum
        profile=q.get("profile"),
        metadata=parse_pairs(q.get("metadata", []), field="metadata"),
        limit=limit,
        offset=offset,
    )
    items = [views.certificate_request(info, None) for info in found]
    return views.page("certificateRequests", items, total, limit, offset)


async def list_certificates(call: Call) -> dict[str, Any]:
    q = call.query
    limit, offset = q.get("limit", 50), q.get("offset", 0)
    query = await certificates.resolve_filter(
        call.rt,
        CertificateFilter(
            status=CertificateStatus(q["status"]) if "status" in q else None,  # checked against the enum
            expiring_before=inputs.instant(q["expiringBefore"]) if "expiringBefore" in q else None,
            search=q.get("search"),
            metadata=parse_pairs(q.get("metadata", []), field="metadata"),
        ),
        profile=q.get("profile"),
        ca=q.get("ca"),
    )
    found, total = await certificates.list_certificates(call.rt, query, limit=limit, offset=offset)
    return views.page("certificates", [views.certificate(c) for c in found], total, limit, offset)


async def get_certificate(call: Call) -> dict[str, Any]:
    info = await certificates.get_certificate(call.rt, call.path["certificate"])
    return views.certificate_details(
        info,
        profile_name=await profiles.profile_name(call.rt, info.profile_id),
        renewal_chain=await certificates.renewal_chain(call.rt, info.id),
    )


async def replace_metadata(call: Call) -> dict[str, Any]:
    info = await edits.set_metadata(call.rt, call.path["certificate"], call.body["metadata"])
    return views.certificate(info)


async def patch_metadata(call: Call) -> dict[str, Any]:
    info = await edits.update_metadata(call.rt, call.path["certificate"], call.body["metadata"])
    return views.certificate(info)


async def delete_certificate(call: Call) -> None:
    await edits.delete_certificate(call.rt, call.path["certificate"])


async def export_certificate(call: Call) -> Any:
    q = call.query
    if q.get("format", "pem") == "pkcs12":
        data = await export.export_pkcs12(
            call.rt,
            call.path["certificate"],
            password=inputs.required(q, "password"),
            alias=q.get("alias") or call.path["certificate"],
            actor=call.actor,
        )
        return Response(
            data,
            media_type="application/x-pkcs12",
            headers={"Content-Disposition": 'attachment; filename="certificate.p12"'},
        )
    info = await certificates.get_certificate(call.rt, call.path["certificate"])
    bundle = await export.export_pem(call.rt, info.id, actor=call.actor)
    return views.pem_export(info.serial, bundle)


async def revoke_certificate(call: Call) -> dict[str, Any]:
    reason = RevocationReason(call.body.get("revocationReason", RevocationReason.UNSPECIFIED.value))
    info = await edits.revoke_certificate(call.rt, call.path["certificate"], reason, source="api")
    return {
        "message": "Successfully revoked certificate",
        "serialNumber": info.serial,
        "revokedAt": info.revoked_at,
    }


async def renew_certificate(call: Call) -> dict[str, Any] | Response:
    """201 with the successor; 202 with the certificate itself when it was issued over ACME (its client
    was asked, through renewalInfo, to renew it)."""
    info = await renew.renew_now(call.rt, call.path["certificate"], actor=call.actor)
    if info.enrollment == "acme":
        return json_response(views.certificate(info), 202)
    return views.certificate(info)


async def latest_bundle(call: Call) -> dict[str, Any]:
    """The seed's Get Latest Active Certificate Bundle: after renewals, the newest one."""
    info = await certificates.latest_active(call.rt, call.path["profile"])
    bundle = await export.export_pem(call.rt, info.id, actor=call.actor)
    return {**views.pem_export(info.serial, bundle), "certificateId": info.id}


async def get_auto_renewal(call: Call) -> dict[str, Any]:
    return views.renewal_status(await scheduler.get_renewal_status(call.rt, call.path["certificate"]))


async def set_auto_renewal(call: Call) -> dict[str, Any]:
    """Server-driven renewal on or off; on only for API-enrolled certificates with a server-held key."""
    info = await scheduler.set_auto_renew(call.rt, call.path["certificate"], call.body["enabled"])
    return views.renewal_status(await scheduler.get_renewal_status(call.rt, info.id))
