"""The zero-set-up dev install: on an empty database, a root CA, an intermediate, a `default` policy
and profile; on every start, an HTTPS certificate for the server itself and the trust bundle file."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cryptography.x509 import DNSName, IPAddress, SubjectAlternativeName
from cryptography.x509.oid import ExtensionOID

from acme_server.errors import Conflict
from acme_server.services import issuance, leases
from acme_server.services.config import ca_creation, cas, policies, profiles
from acme_server.services.inventory import export
from acme_server.services.runtime import Runtime
from ca_core.export import load_certificates_pem
from ca_core.request import Subject, SubjectAltNames

ROOT_NAME = "dev-root"
CROSS_ROOT_NAME = "dev-cross-root"
INTERMEDIATE_NAME = "dev-intermediate"
DEFAULT_PROFILE = "default"
DEFAULT_POLICY = "default"
TLS_RENEW_BEFORE = timedelta(days=30)


@dataclass(frozen=True)
class TLSFiles:
    certificate: Path  # full chain, what uvicorn's ssl_certfile takes
    key: Path


async def ensure_dev_setup(rt: Runtime) -> bool:
    """Create the dev CAs, policy and profile when the database has no CA; True when created.
    A database lease makes concurrent first starts (replicas, workers) create them once."""
    if await cas.list_cas(rt):
        return False
    async with leases.hold(rt, "bootstrap", ttl=timedelta(minutes=5), wait=None):
        if await cas.list_cas(rt):  # another process created them while this one waited
            return False
        await _create_dev_setup(rt)
        return True


async def _create_dev_setup(rt: Runtime) -> None:
    root = await ca_creation.create_root_ca(
        rt, name=ROOT_NAME, subject=Subject(common_name="ACME Server Dev Root CA", organization="acme-server")
    )
    intermediate = await ca_creation.create_intermediate_ca(
        rt,
        parent=root.id,
        name=INTERMEDIATE_NAME,
        subject=Subject(common_name="ACME Server Dev Intermediate CA", organization="acme-server"),
    )
    # A second root cross-signs the intermediate, so every dev certificate has an alternate chain
    # (--preferred-chain works out of the box; the same mechanism carries CA rotations).
    await ca_creation.create_root_ca(
        rt,
        name=CROSS_ROOT_NAME,
        subject=Subject(common_name="ACME Server Dev Cross Root CA", organization="acme-server"),
    )
    await ca_creation.cross_sign_ca(rt, intermediate.id, issuer=CROSS_ROOT_NAME)
    await policies.create_policy(
        rt, DEFAULT_POLICY, {"description": "Allows any name; restrict it before production use."}
    )
    await profiles.create_profile(
        rt,
        DEFAULT_PROFILE,
        {
            "description": "TLS server and client certificates from the dev intermediate",
            "issuerType": "ca",
            "caId": intermediate.id,
            "policyId": DEFAULT_POLICY,
        },
    )


def _tls_hosts(listen_host: str) -> SubjectAltNames:
    dns = ["localhost"]
    ips = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    if listen_host not in ("0.0.0.0", "::", "localhost"):
        address = ipaddress.ip_address(listen_host)
        if address not in ips:
            ips.append(address)
    return SubjectAltNames(dns=tuple(dns), ip=tuple(ips))


def _tls_is_current(files: TLSFiles, wanted: SubjectAltNames, rt: Runtime) -> bool:
    if not (files.certificate.exists() and files.key.exists()):
        return False
    certificate = load_certificates_pem(files.certificate.read_bytes())[0]
    if certificate.not_valid_after_utc - TLS_RENEW_BEFORE <= rt.clock.now():
        return False
    names = certificate.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    assert isinstance(names, SubjectAlternativeName)
    have = set(names.get_values_for_type(DNSName)) | {str(a) for a in names.get_values_for_type(IPAddress)}
    return set(wanted.all_strings()) <= have


async def ensure_server_tls(rt: Runtime, tls_dir: Path, listen_host: str) -> TLSFiles:
    """Issue (or re-issue when missing, expiring or not covering the listen address) the server's own
    HTTPS certificate from the default profile; the key file is written with mode 0600."""
    files = TLSFiles(tls_dir / "server.pem", tls_dir / "server.key")
    wanted = _tls_hosts(listen_host)
    if _tls_is_current(files, wanted, rt):
        return files
    issued = await issuance.issue_certificate(
        rt,
        profile=DEFAULT_PROFILE,
        managed=issuance.ManagedRequest(subject=Subject(common_name="localhost"), sans=wanted),
        metadata={"purpose": "acme-server-https"},
        friendly_name="acme-server HTTPS",
        enrollment="cli",
    )
    bundle = await export.export_pem(rt, issued.id)
    if bundle.private_key is None:
        raise Conflict("the server certificate was issued without a key")
    tls_dir.mkdir(parents=True, exist_ok=True)
    _write_private(files.key, bundle.private_key)
    files.certificate.write_text(bundle.fullchain)
    return files


def _write_private(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)


async def write_trust_bundle(rt: Runtime, path: Path) -> Path:
    """Every active root CA certificate, PEM, in one file: what clients trust."""
    roots = [ca.certificate_pem for ca in await cas.list_cas(rt) if ca.kind == "root" and ca.certificate_pem]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(roots))
    return path
