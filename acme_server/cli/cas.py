"""`acme-server ca ...`: create roots and intermediates, the offline-root flow, list, disable, CRLs."""

from __future__ import annotations

import argparse
from typing import Any

from acme_server.cli.common import emit, emit_table, leaf, progress, read_input, write_output
from acme_server.services.config import ca_creation, cas
from acme_server.services.config.cas import CAInfo
from acme_server.services.renewal import ari, rotation, rotation_progress
from acme_server.services.renewal.rotation_progress import RotationProgress
from acme_server.services.runtime import Runtime
from acme_server.services.status import crls
from ca_core.authority import CASettings
from ca_core.durations import parse_duration
from ca_core.errors import InvalidSetting
from ca_core.keys import KeyAlgorithm
from ca_core.request import Subject


def _subject_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="a unique name for the CA")
    parser.add_argument("--common-name", help="subject CN (default: the name)")
    parser.add_argument("--organization", help="subject O")
    parser.add_argument("--organizational-unit", help="subject OU")
    parser.add_argument("--country", help="subject C (two letters)")
    parser.add_argument("--state", help="subject ST")
    parser.add_argument("--locality", help="subject L")
    parser.add_argument(
        "--key-algorithm",
        type=KeyAlgorithm,
        choices=list(KeyAlgorithm),
        help="CA key (default EC_prime256v1; with --pkcs11-uri: that of a key already in the token)",
    )
    parser.add_argument(
        "--pkcs11-uri",
        metavar="URI",
        help="keep the CA key in a PKCS#11 token (RFC 7512, e.g. 'pkcs11:token=ca;object=root'): "
        "generated there unless the token already holds it; the PIN comes from --pkcs11-pin-file "
        "or ACME_PKCS11_PIN",
    )
    parser.add_argument("--crl-url", help="CRL distribution point for what this CA issues (default: ours)")
    parser.add_argument("--ocsp-url", help="OCSP responder URL written into what this CA issues")
    parser.add_argument("--issuer-url", help="AIA caIssuers URL written into what this CA issues")
    parser.add_argument("--max-path-length", type=int, help="basicConstraints pathLen of this CA")
    _status_options(parser)


def _status_options(parser: argparse.ArgumentParser) -> None:
    # Its own dest: the CA's setting, not this process's status_url setting (which `serve` takes).
    parser.add_argument(
        "--status-url",
        dest="ca_status_url",
        metavar="URL",
        help="base URL of the CRLs and OCSP this CA's certificates name (default: this process's)",
    )
    parser.add_argument(
        "--crl-partitions",
        type=int,
        metavar="N",
        help="spread new certificates over N CRLs, each with its own URL (default 1)",
    )


def _subject(args: argparse.Namespace) -> Subject:
    return Subject(
        common_name=args.common_name or args.name,
        organization=args.organization,
        organizational_unit=args.organizational_unit,
        country=args.country,
        state=args.state,
        locality=args.locality,
    )


def _settings(args: argparse.Namespace) -> CASettings:
    return CASettings(
        crl_url=args.crl_url,
        ocsp_url=args.ocsp_url,
        issuer_url=args.issuer_url,
        max_path_length=args.max_path_length,
        status_url=args.ca_status_url,
        crl_partitions=1 if args.crl_partitions is None else args.crl_partitions,
    )


def _view(ca: CAInfo) -> dict[str, Any]:
    return {
        "id": ca.id,
        "name": ca.name,
        "kind": ca.kind,
        "status": ca.status,
        "subject": ca.subject,
        "parent": ca.parent_id,
        "keyAlgorithm": ca.key_algorithm,
        "notBefore": ca.not_before,
        "notAfter": ca.not_after,
        "crlUrl": ca.settings.crl_url,
        "ocspUrl": ca.settings.ocsp_url,
        "issuerUrl": ca.settings.issuer_url,
        "maxPathLength": ca.settings.max_path_length,
        "statusUrl": ca.settings.status_url,
        "crlPartitions": ca.settings.crl_partitions,
        "crlUrls": ca.crl_urls,
        "keyUri": ca.key_uri,
    }


async def create_root(rt: Runtime, args: argparse.Namespace) -> int:
    ca = await ca_creation.create_root_ca(
        rt,
        name=args.name,
        subject=_subject(args),
        key_algorithm=args.key_algorithm,
        validity=parse_duration(args.ttl, field="ttl"),
        settings=_settings(args),
        pkcs11_uri=args.pkcs11_uri,
    )
    emit(args, _view(ca))
    return 0


async def create_intermediate(rt: Runtime, args: argparse.Namespace) -> int:
    ca = await ca_creation.create_intermediate_ca(
        rt,
        parent=args.parent,
        name=args.name,
        subject=_subject(args),
        key_algorithm=args.key_algorithm,
        validity=parse_duration(args.ttl, field="ttl"),
        settings=_settings(args),
        pkcs11_uri=args.pkcs11_uri,
    )
    emit(args, _view(ca))
    return 0


async def create_csr(rt: Runtime, args: argparse.Namespace) -> int:
    ca = await ca_creation.create_external_ca(
        rt,
        name=args.name,
        subject=_subject(args),
        key_algorithm=args.key_algorithm,
        settings=_settings(args),
        pkcs11_uri=args.pkcs11_uri,
    )
    assert ca.csr_pem is not None
    if args.out:
        write_output(args.out, ca.csr_pem.encode())
        emit(args, {**_view(ca), "csr": args.out})
    else:
        print(ca.csr_pem, end="")
    return 0


async def import_signed(rt: Runtime, args: argparse.Namespace) -> int:
    chain = read_input(args.chain, what="chain") if args.chain else b""
    ca = await ca_creation.import_external_certificate(
        rt, args.ca, read_input(args.certificate, what="certificate"), chain
    )
    emit(args, _view(ca))
    return 0


async def cross_sign(rt: Runtime, args: argparse.Namespace) -> int:
    ca = await ca_creation.cross_sign_ca(
        rt, args.ca, issuer=args.issuer, validity=parse_duration(args.ttl, field="ttl")
    )
    emit(args, {**_view(ca), "alternateChains": len(await cas.alternate_chains(rt, ca.id))})
    return 0


async def list_all(rt: Runtime, args: argparse.Namespace) -> int:
    rows = [_view(ca) for ca in await cas.list_cas(rt)]
    emit_table(args, rows, ["id", "name", "kind", "status", "notAfter", "subject"])
    return 0


async def show(rt: Runtime, args: argparse.Namespace) -> int:
    ca = await cas.get_ca(rt, args.ca)
    if args.pem:
        print(ca.bundle_pem or ca.csr_pem or "", end="")
        return 0
    emit(args, _view(ca))
    return 0


async def disable(rt: Runtime, args: argparse.Namespace) -> int:
    emit(args, _view(await cas.set_ca_enabled(rt, args.ca, False)))
    return 0


async def enable(rt: Runtime, args: argparse.Namespace) -> int:
    emit(args, _view(await cas.set_ca_enabled(rt, args.ca, True)))
    return 0


async def update(rt: Runtime, args: argparse.Namespace) -> int:
    if args.ca_status_url is None and args.crl_partitions is None:
        raise InvalidSetting("ca update", "give --status-url and/or --crl-partitions")
    ca = await crls.update_ca(rt, args.ca, status_url=args.ca_status_url, crl_partitions=args.crl_partitions)
    emit(args, _view(ca))
    return 0


async def crl(rt: Runtime, args: argparse.Namespace) -> int:
    async with progress(f"building the CRL of {args.ca}"):
        info = await crls.generate_crl(rt, args.ca, partition=args.partition)
    data = info.der if args.der else info.pem.encode()
    if args.out:
        write_output(args.out, data)
        emit(
            args,
            {
                "ca": info.ca_id,
                "partition": info.partition,
                "number": info.number,
                "thisUpdate": info.this_update,
                "nextUpdate": info.next_update,
                "file": args.out,
            },
        )
    else:
        print(info.pem, end="")
    return 0


def _rotation_view(progress: RotationProgress) -> dict[str, Any]:
    r = progress.rotation
    return {
        "id": r.id,
        "oldCa": r.old_ca,
        "newCa": r.new_ca,
        "state": r.state,
        "spreadSeconds": int(r.spread.total_seconds()),
        "graceSeconds": int(r.grace.total_seconds()),
        "startedAt": r.started_at,
        "finishedAt": r.finished_at,
        "onOldCa": progress.on_old,
        "renewed": progress.renewed,
        "notRenewing": progress.not_renewing,
        "waiting": progress.waiting,
        "crlPublishedUntil": progress.crl_until,
        "crlPublished": progress.crl_published,
    }


async def rotate(rt: Runtime, args: argparse.Namespace) -> int:
    if args.to is None:  # the plain "renew now" for every ACME certificate of the CA
        if args.create or args.cross_sign:
            raise InvalidSetting("to", "--create and --cross-sign need --to NEW")
        marked = await ari.mark_ca_for_rotation(rt, args.ca)
        emit(args, {"ca": args.ca, "certificatesToRenew": marked})
        return 0
    progress = await rotation.start_rotation(
        rt,
        args.ca,
        to=args.to,
        create=args.create,
        cross_sign=args.cross_sign,
        spread=rotation_progress.parse_period(args.spread, field="spread"),
        grace=rotation_progress.parse_period(args.grace, field="grace"),
    )
    emit(args, _rotation_view(progress))
    return 0


async def rotation_status(rt: Runtime, args: argparse.Namespace) -> int:
    emit(args, _rotation_view(await rotation_progress.rotation_status(rt, args.ca)))
    return 0


async def rotation_finish(rt: Runtime, args: argparse.Namespace) -> int:
    emit(args, _rotation_view(await rotation.finish_rotation(rt, args.ca, force=args.force)))
    return 0


async def rotation_cancel(rt: Runtime, args: argparse.Namespace) -> int:
    emit(args, _rotation_view(await rotation.cancel_rotation(rt, args.ca)))
    return 0


def _register_rotation(group: Any) -> None:
    p = leaf(
        group,
        "rotate",
        rotate,
        "rotate a CA onto NEW (--to): its profiles move to NEW, its certificates renew spread out;"
        " without --to, ask every ACME client of the CA to renew now",
    )
    p.add_argument("ca", help="the old CA (id or name)")
    p.add_argument(
        "--to", metavar="NEW", help="the new CA (id or name); with --create, the name of a CA to create"
    )
    p.add_argument(
        "--create", action="store_true", help="create NEW beside the old CA (same parent, same key type)"
    )
    p.add_argument(
        "--cross-sign",
        action="store_true",
        help="have the old CA's root sign NEW too (an alternate chain for clients trusting only it)",
    )
    p.add_argument(
        "--spread", default="7d", help="renewals spread over this long, e.g. 7d, 12h, or 0 (default 7d)"
    )
    p.add_argument(
        "--grace",
        default="1d",
        help="after its moment plus this, a certificate counts as not renewing (default 1d)",
    )
    sub = group.add_parser("rotation", help="a CA rotation's progress, finish or cancel").add_subparsers(
        dest="rotation_command", required=True, metavar="ACTION"
    )
    leaf(
        sub, "status", rotation_status, "certificates still on the old CA, renewed, not renewing"
    ).add_argument("ca", help="the old CA (id or name)")
    p = leaf(sub, "finish", rotation_finish, "disable the old CA once nothing active depends on it")
    p.add_argument("ca", help="the old CA (id or name)")
    p.add_argument("--force", action="store_true", help="disable it even though active certificates remain")
    leaf(sub, "cancel", rotation_cancel, "stop tracking the rotation (profiles stay on NEW)").add_argument(
        "ca", help="the old CA (id or name)"
    )


def register(commands: Any) -> None:
    group = commands.add_parser("ca", help="certificate authorities").add_subparsers(
        dest="ca_command", required=True, metavar="ACTION"
    )
    p = leaf(group, "create-root", create_root, "create a self-signed root CA")
    _subject_options(p)
    p.add_argument("--ttl", default="3650d", help="validity (default 3650d)")
    p = leaf(
        group, "create-intermediate", create_intermediate, "create an intermediate signed by one of our CAs"
    )
    _subject_options(p)
    p.add_argument("--parent", required=True, help="issuing CA (id or name)")
    p.add_argument("--ttl", default="1825d", help="validity (default 1825d, clipped to the parent's)")
    p = leaf(
        group, "create-csr", create_csr, "create an intermediate key and CSR for an offline root to sign"
    )
    _subject_options(p)
    p.add_argument("--out", help="write the CSR here instead of standard output")
    p = leaf(group, "import", import_signed, "import the certificate an offline root signed for a pending CA")
    p.add_argument("ca", help="the pending CA (id or name)")
    p.add_argument(
        "--certificate", required=True, help="PEM file with the signed certificate ('-' for stdin)"
    )
    p.add_argument("--chain", help="PEM file with the issuer chain up to the root")
    p = leaf(group, "cross-sign", cross_sign, "have another CA sign this CA's key too (an alternate chain)")
    p.add_argument("ca", help="the CA to cross-sign (id or name)")
    p.add_argument("--issuer", required=True, help="the CA that signs it (id or name)")
    p.add_argument("--ttl", default="1825d", help="validity (default 1825d, clipped to the issuer's)")
    p = leaf(group, "update", update, "change where a CA's certificates point (status URL, CRL partitions)")
    p.add_argument("ca", help="id or name")
    _status_options(p)
    leaf(group, "list", list_all, "list CAs")
    p = leaf(group, "show", show, "show a CA")
    p.add_argument("ca", help="id or name")
    p.add_argument("--pem", action="store_true", help="print the CA certificate and its chain as PEM")
    leaf(group, "disable", disable, "stop a CA from signing").add_argument("ca", help="id or name")
    leaf(group, "enable", enable, "let a disabled CA sign again").add_argument("ca", help="id or name")
    _register_rotation(group)
    p = leaf(group, "crl", crl, "generate and print a fresh CRL for a CA")
    p.add_argument("ca", help="id or name")
    p.add_argument("--out", help="write to this file")
    p.add_argument("--der", action="store_true", help="DER instead of PEM")
    p.add_argument("--partition", type=int, default=0, metavar="K", help="CRL partition (default 0)")
