"""`acme-server cert ...`: issue (CSR or managed key), list, show, metadata, revoke, export, delete."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

from acme_server.cli.common import emit, emit_table, leaf, parse_pairs, read_input, write_output
from acme_server.errors import Malformed
from acme_server.services import issuance
from acme_server.services.inventory import certificates, edits, export
from acme_server.services.inventory.certificates import CertificateFilter, CertificateInfo
from acme_server.services.issuance import ManagedRequest
from acme_server.services.renewal import ari
from acme_server.services.runtime import Runtime
from acme_server.statuses import CertificateStatus
from ca_core.durations import parse_duration
from ca_core.errors import InvalidIdentifier
from ca_core.keys import KeyAlgorithm
from ca_core.names import parse_ip
from ca_core.request import Subject, SubjectAltNames
from ca_core.revocation import RevocationReason


def _summary(cert: CertificateInfo) -> dict[str, Any]:
    return {
        "id": cert.id,
        "serial": cert.serial,
        "status": cert.status,
        "commonName": cert.common_name,
        "notAfter": cert.not_after,
    }


def _view(cert: CertificateInfo) -> dict[str, Any]:
    d = cert.details
    return {
        "id": cert.id,
        "commonName": d.common_name,
        "friendlyName": cert.friendly_name,
        "status": cert.status,
        "serial": cert.serial,
        "notBefore": cert.not_before,
        "notAfter": cert.not_after,
        "issuer": d.issuer,
        "caId": cert.ca_id,
        "profileId": cert.profile_id,
        "renewedFrom": cert.renewed_from_id,
        "renewedBy": cert.renewed_by_id,
        "subject": d.subject.attributes(),
        "altNames": d.sans.all_strings(),
        "basicConstraints": {"ca": d.is_ca, "pathLength": d.path_length},
        "keyUsages": list(d.key_usages),
        "extendedKeyUsages": list(d.extended_key_usages),
        "keyAlgorithm": d.key_algorithm,
        "signatureAlgorithm": d.signature_algorithm,
        "fingerprintSha256": d.fingerprint_sha256,
        "fingerprintSha1": d.fingerprint_sha1,
        "privateKey": "managed" if cert.has_private_key else "external",
        "autoRenew": cert.auto_renew,
        "revokedAt": cert.revoked_at,
        "revocationReason": cert.revocation_reason,
        "metadata": cert.metadata,
    }


def _managed(args: argparse.Namespace) -> ManagedRequest:
    try:
        ips = tuple(parse_ip(ip) for ip in args.ip or [])
    except InvalidIdentifier as exc:
        raise Malformed(f"--ip {exc.detail}") from None
    return ManagedRequest(
        subject=Subject(
            common_name=args.common_name,
            organization=args.organization,
            organizational_unit=args.organizational_unit,
            country=args.country,
            state=args.state,
            locality=args.locality,
        ),
        sans=SubjectAltNames(
            dns=tuple(args.dns or []), ip=ips, email=tuple(args.email or []), uri=tuple(args.uri or [])
        ),
        key_algorithm=args.key_algorithm,
    )


async def issue(rt: Runtime, args: argparse.Namespace) -> int:
    ttl = parse_duration(args.ttl, field="ttl") if args.ttl else None
    metadata = parse_pairs(args.metadata, option="--metadata")
    if args.csr:
        cert = await issuance.issue_certificate(
            rt,
            profile=args.profile,
            csr_pem=read_input(args.csr, what="CSR"),
            ttl=ttl,
            metadata=metadata,
            friendly_name=args.friendly_name or "",
            enrollment="cli",
        )
    else:
        cert = await issuance.issue_certificate(
            rt,
            profile=args.profile,
            managed=_managed(args),
            ttl=ttl,
            metadata=metadata,
            friendly_name=args.friendly_name or "",
            enrollment="cli",
        )
    if args.out_dir:
        await _write_pem_files(rt, cert.id, Path(args.out_dir))
    emit(args, _summary(cert))
    return 0


async def _write_pem_files(rt: Runtime, certificate_id: str, directory: Path) -> None:
    bundle = await export.export_pem(rt, certificate_id)
    directory.mkdir(parents=True, exist_ok=True)
    write_output(str(directory / "cert.pem"), bundle.certificate.encode())
    write_output(str(directory / "chain.pem"), bundle.chain.encode())
    write_output(str(directory / "fullchain.pem"), bundle.fullchain.encode())
    if bundle.private_key:
        write_output(str(directory / "key.pem"), bundle.private_key.encode(), private=True)


async def list_all(rt: Runtime, args: argparse.Namespace) -> int:
    query = CertificateFilter(
        status=args.status,
        profile_id=args.profile,
        ca_id=args.ca,
        expiring_before=datetime.fromisoformat(args.expiring_before) if args.expiring_before else None,
        search=args.search,
        metadata=parse_pairs(args.metadata, option="--metadata"),
    )
    found, total = await certificates.list_certificates(rt, query, limit=args.limit, offset=args.offset)
    emit_table(args, [_summary(c) for c in found], ["id", "serial", "status", "commonName", "notAfter"])
    if not args.json:
        print(f"{len(found)} of {total}")
    return 0


async def show(rt: Runtime, args: argparse.Namespace) -> int:
    emit(args, _view(await certificates.get_certificate(rt, args.certificate)))
    return 0


async def set_metadata(rt: Runtime, args: argparse.Namespace) -> int:
    metadata = parse_pairs(args.pairs, option="metadata")
    emit(args, _view(await edits.set_metadata(rt, args.certificate, metadata)))
    return 0


async def show_renewal_info(rt: Runtime, args: argparse.Namespace) -> int:
    cert_id, info = await ari.renewal_info_of(rt, args.certificate)
    window = {"start": info.window.start, "end": info.window.end}
    emit(args, {"certID": cert_id, "suggestedWindow": window, "reason": info.reason})
    return 0


async def request_renewal(rt: Runtime, args: argparse.Namespace) -> int:
    await ari.mark_for_renewal(rt, args.certificate)
    return await show_renewal_info(rt, args)


async def revoke(rt: Runtime, args: argparse.Namespace) -> int:
    cert = await edits.revoke_certificate(
        rt, args.certificate, RevocationReason.parse(args.reason), source="cli"
    )
    emit(
        args,
        {
            "message": "Successfully revoked certificate",
            "serialNumber": cert.serial,
            "revokedAt": cert.revoked_at,
        },
    )
    return 0


async def export_certificate(rt: Runtime, args: argparse.Namespace) -> int:
    if args.format == "pkcs12":
        if not args.password or not args.out:
            raise Malformed("PKCS#12 export needs --password and --out")
        data = await export.export_pkcs12(
            rt, args.certificate, password=args.password, alias=args.alias or args.certificate
        )
        write_output(args.out, data, private=True)
        print(f"wrote {args.out}")
        return 0
    if args.out_dir:
        await _write_pem_files(rt, args.certificate, Path(args.out_dir))
        print(f"wrote {args.out_dir}")
        return 0
    print((await export.export_pem(rt, args.certificate)).full_bundle, end="")
    return 0


async def delete(rt: Runtime, args: argparse.Namespace) -> int:
    await edits.delete_certificate(rt, args.certificate)
    print(f"deleted certificate {args.certificate}")
    return 0


def _issue_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", required=True, help="profile (id or name)")
    p.add_argument("--csr", help="PEM PKCS#10 file ('-' for stdin); without it the server generates the key")
    p.add_argument("--ttl", help="lifetime, e.g. 30d (default: the profile's)")
    p.add_argument("--common-name", "--cn", dest="common_name")
    p.add_argument("--organization")
    p.add_argument("--organizational-unit")
    p.add_argument("--country")
    p.add_argument("--state")
    p.add_argument("--locality")
    p.add_argument("--dns", action="append", help="DNS SAN (repeat)")
    p.add_argument("--ip", action="append", help="IP SAN (repeat)")
    p.add_argument("--email", action="append", help="e-mail SAN (repeat)")
    p.add_argument("--uri", action="append", help="URI SAN (repeat)")
    p.add_argument(
        "--key-algorithm", type=KeyAlgorithm, choices=list(KeyAlgorithm), default=KeyAlgorithm.EC_prime256v1
    )
    p.add_argument("--metadata", action="append", metavar="KEY=VALUE")
    p.add_argument("--friendly-name")
    p.add_argument("--out-dir", help="also write cert.pem, chain.pem, fullchain.pem (and key.pem) here")


def register(commands: Any) -> None:
    group = commands.add_parser("cert", help="certificates").add_subparsers(
        dest="cert_command", required=True, metavar="ACTION"
    )
    _issue_options(
        leaf(group, "issue", issue, "issue a certificate from a CSR or with a server-generated key")
    )
    p = leaf(group, "list", list_all, "list certificates")
    p.add_argument("--status", type=CertificateStatus, choices=list(CertificateStatus))
    p.add_argument("--profile", help="profile id")
    p.add_argument("--ca", help="CA id")
    p.add_argument("--expiring-before", help="ISO date/time, e.g. 2027-01-31")
    p.add_argument("--search", help="part of the common name or a SAN")
    p.add_argument("--metadata", action="append", metavar="KEY=VALUE", help="repeat: all must match")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    leaf(group, "show", show, "show a certificate's details").add_argument("certificate", help="id")
    p = leaf(group, "metadata", set_metadata, "replace a certificate's metadata")
    p.add_argument("certificate", help="id")
    p.add_argument("pairs", nargs="*", metavar="KEY=VALUE")
    p = leaf(group, "revoke", revoke, "revoke a certificate and refresh its CA's CRL")
    p.add_argument("certificate", help="id")
    p.add_argument("--reason", default="UNSPECIFIED", help="RFC 5280 reason, e.g. KEY_COMPROMISE, superseded")
    leaf(
        group, "renewal-info", show_renewal_info, "show the ACME renewal window (RFC 9773) of a certificate"
    ).add_argument("certificate", help="id")
    leaf(
        group,
        "request-renewal",
        request_renewal,
        "renew now: move an ACME certificate's renewal window into the past, so its client renews",
    ).add_argument("certificate", help="id")
    p = leaf(group, "export", export_certificate, "export as PEM or PKCS#12", json_output=False)
    p.add_argument("certificate", help="id")
    p.add_argument("--format", choices=["pem", "pkcs12"], default="pem")
    p.add_argument("--out-dir", help="PEM: write cert/chain/fullchain/key files here")
    p.add_argument("--out", help="PKCS#12: the .p12 file to write")
    p.add_argument("--password", help="PKCS#12 password")
    p.add_argument("--alias", help="PKCS#12 friendly name (default: the certificate id)")
    leaf(group, "delete", delete, "remove a certificate from the inventory", json_output=False).add_argument(
        "certificate", help="id"
    )
