"""Creating CAs: roots, intermediates, external ones an offline root signs (stored pending, then
completed with the certificate it signed), and cross-signatures that give a CA an alternate chain."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from acme_server.errors import Conflict
from acme_server.hsm.uri import parse_uri
from acme_server.services.config import cas
from acme_server.services.platform import audit
from acme_server.services.runtime import Runtime
from acme_server.statuses import CAStatus
from ca_core.authority import (
    CASettings,
    check_signed_intermediate,
    create_intermediate_csr,
    create_root,
)
from ca_core.authority import create_intermediate as sign_intermediate
from ca_core.errors import InvalidSetting
from ca_core.export import certificates_pem, load_certificates_pem
from ca_core.keys import KeyAlgorithm, PrivateKey, PublicKey, check_key, generate_key
from ca_core.request import Subject
from ca_core.serials import random_serial
from ca_core.signer import Signer, SoftwareSigner
from ca_core.tokens import TokenSigner

ROOT_VALIDITY = timedelta(days=3650)
INTERMEDIATE_VALIDITY = timedelta(days=1825)


async def _check_name_free(rt: Runtime, name: str) -> None:
    if not name.strip():
        raise InvalidSetting("name", "a CA needs a name")
    async with rt.storage.read() as tx:
        if await tx.cas.get_by_name(name):
            raise Conflict(f"a CA named {name!r} already exists")


@dataclass(frozen=True)
class _NewKey:
    """A new CA's key: in memory (sealed when stored) or in a PKCS#11 token (its URI stored)."""

    signer: Signer
    algorithm: KeyAlgorithm
    private_key: PrivateKey | None = None
    uri: str | None = None

    @property
    def public_key(self) -> PublicKey:
        return self.signer.public_key


async def _new_key(rt: Runtime, algorithm: KeyAlgorithm | None, pkcs11_uri: str | None) -> _NewKey:
    """A fresh software key of `algorithm` (default EC P-256), or the key `pkcs11_uri` names in a token:
    generated there (of `algorithm`) when it does not exist yet, else used as it is."""
    if pkcs11_uri is None:
        algorithm = algorithm or KeyAlgorithm.EC_prime256v1
        key = await asyncio.to_thread(generate_key, algorithm)
        return _NewKey(SoftwareSigner(key), algorithm, private_key=key)
    uri = parse_uri(pkcs11_uri)
    token_key = await asyncio.to_thread(
        rt.pkcs11.open_or_generate, uri, algorithm or KeyAlgorithm.EC_prime256v1
    )
    found = check_key(token_key.public_key)
    if algorithm is not None and found is not algorithm:
        raise Conflict(f"{token_key.uri}: the key in the token is {found}, not {algorithm}")
    return _NewKey(TokenSigner(token_key, token_key.public_key), found, uri=str(token_key.uri))


async def _store(
    rt: Runtime,
    name: str,
    kind: str,
    key: _NewKey,
    settings: CASettings,
    *,
    certificate: x509.Certificate | None = None,
    chain_pem: str = "",
    parent_id: str | None = None,
    csr_pem: str | None = None,
) -> cas.CAInfo:
    """One new CA row: its key sealed, its settings, and its certificate (or, pending, its CSR)."""
    async with rt.storage.transaction() as tx:
        record = await tx.cas.create(
            name=name,
            kind=kind,
            parent_id=parent_id,
            status=CAStatus.ACTIVE if certificate is not None else CAStatus.PENDING,
            certificate_pem=cas.pem(certificate) if certificate is not None else None,
            chain_pem=chain_pem,
            csr_pem=csr_pem,
            sealed_key=rt.seal(key.private_key) if key.private_key is not None else b"",
            key_uri=key.uri,
            key_algorithm=key.algorithm.value,
            crl_url=settings.crl_url,
            ocsp_url=settings.ocsp_url,
            issuer_url=settings.issuer_url,
            max_path_length=settings.max_path_length,
            not_before=certificate.not_valid_before_utc if certificate is not None else None,
            not_after=certificate.not_valid_after_utc if certificate is not None else None,
            status_url=cas.stored_status_url(settings.status_url or rt.status_base_url),
            crl_partitions=settings.crl_partitions,
        )
        await audit.record(tx, audit.current(), "ca.create", "ca", record.id, {"name": name, "kind": kind})
    return cas.ca_info(rt, record)


async def _signed(
    rt: Runtime,
    build: Callable[..., x509.Certificate],
    *args: Any,
    validity: timedelta,
    settings: CASettings,
) -> x509.Certificate:
    """A new CA's certificate from ca_core (`create_root` or `create_intermediate`), built off the event
    loop with a fresh serial and this moment as its start."""
    return await asyncio.to_thread(
        build, *args, now=rt.clock.now(), validity=validity, serial=random_serial(), settings=settings
    )


async def create_root_ca(
    rt: Runtime,
    *,
    name: str,
    subject: Subject,
    key_algorithm: KeyAlgorithm | None = None,
    validity: timedelta = ROOT_VALIDITY,
    settings: CASettings | None = None,
    pkcs11_uri: str | None = None,
) -> cas.CAInfo:
    """A self-signed root; its key generated here (sealed) or in/from the token `pkcs11_uri` names."""
    await _check_name_free(rt, name)
    settings = settings or CASettings()
    key = await _new_key(rt, key_algorithm, pkcs11_uri)
    certificate = await _signed(rt, create_root, subject, key.signer, validity=validity, settings=settings)
    return await _store(rt, name, "root", key, settings, certificate=certificate)


async def create_intermediate_ca(
    rt: Runtime,
    *,
    parent: str,
    name: str,
    subject: Subject,
    key_algorithm: KeyAlgorithm | None = None,
    validity: timedelta = INTERMEDIATE_VALIDITY,
    settings: CASettings | None = None,
    pkcs11_uri: str | None = None,
) -> cas.CAInfo:
    await _check_name_free(rt, name)
    settings = settings or CASettings()
    async with rt.storage.read() as tx:
        parent_record = await cas.find_record(tx, parent)
    authority = cas.authority_from_record(rt, parent_record)
    key = await _new_key(rt, key_algorithm, pkcs11_uri)
    certificate = await _signed(
        rt, sign_intermediate, authority, subject, key.public_key, validity=validity, settings=settings
    )
    return await _store(
        rt,
        name,
        "intermediate",
        key,
        settings,
        certificate=certificate,
        chain_pem=authority.chain_pem(),
        parent_id=parent_record.id,
    )


async def create_external_ca(
    rt: Runtime,
    *,
    name: str,
    subject: Subject,
    key_algorithm: KeyAlgorithm | None = None,
    settings: CASettings | None = None,
    pkcs11_uri: str | None = None,
) -> cas.CAInfo:
    """An intermediate whose certificate an offline root will sign: stored `pending` with its CSR."""
    await _check_name_free(rt, name)
    settings = settings or CASettings()
    key = await _new_key(rt, key_algorithm, pkcs11_uri)
    csr = await asyncio.to_thread(create_intermediate_csr, subject, key.signer)
    return await _store(rt, name, "external", key, settings, csr_pem=csr.public_bytes(Encoding.PEM).decode())


async def import_external_certificate(
    rt: Runtime, ca: str, certificate_pem: bytes, chain_pem: bytes
) -> cas.CAInfo:
    """Complete a pending external CA with the certificate the offline root signed."""
    async with rt.storage.read() as tx:
        record = await cas.find_record(tx, ca)
    if record.status != CAStatus.PENDING or not record.csr_pem:
        raise Conflict(f"CA {record.name!r} is not waiting for a signed certificate")
    certificates = load_certificates_pem(certificate_pem)
    chain = load_certificates_pem(chain_pem) if chain_pem.strip() else certificates[1:]
    certificate = certificates[0]
    csr = x509.load_pem_x509_csr(record.csr_pem.encode())
    check_key(csr.public_key())  # type: ignore[arg-type]
    above = check_signed_intermediate(certificate, chain, csr.public_key())  # type: ignore[arg-type]
    async with rt.storage.transaction() as tx:
        if not await tx.cas.complete_external(
            record.id,
            certificate_pem=cas.pem(certificate),
            chain_pem=certificates_pem(above),
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
        ):
            raise Conflict(f"CA {record.name!r} was completed by another request")
        await audit.record(
            tx, audit.current(), "ca.import_certificate", "ca", record.id, {"name": record.name}
        )
        completed = await cas.find_record(tx, record.id)
    return cas.ca_info(rt, completed)


async def cross_sign_ca(
    rt: Runtime, ca: str, *, issuer: str, validity: timedelta = INTERMEDIATE_VALIDITY
) -> cas.CAInfo:
    """Have `issuer` sign `ca`'s key and subject too: certificates of `ca` then have an alternate chain
    up to `issuer`'s root (a CA rotation or a second trust anchor, as Pebble's alternate roots)."""
    async with rt.storage.read() as tx:
        record = await cas.find_record(tx, ca)
        issuer_record = await cas.find_record(tx, issuer)
    if record.certificate_pem is None:
        raise Conflict(f"CA {record.name!r} has no certificate yet")
    if record.id == issuer_record.id or record.parent_id == issuer_record.id:
        raise Conflict(f"CA {issuer_record.name!r} already issued {record.name!r}")
    certificate = load_certificates_pem(record.certificate_pem.encode())[0]
    parent = cas.authority_from_record(rt, issuer_record)
    cross = sign_intermediate(
        parent,
        Subject.from_x509_name(certificate.subject),
        certificate.public_key(),  # type: ignore[arg-type]
        now=rt.clock.now(),
        validity=validity,
        serial=random_serial(),
        settings=cas.effective_settings(rt, record),
    )
    async with rt.storage.transaction() as tx:
        await tx.cross_certificates.create(
            ca_id=record.id, issuer_id=issuer_record.id, certificate_pem=cas.pem(cross)
        )
        await audit.record(
            tx, audit.current(), "ca.cross_sign", "ca", record.id, {"issuer": issuer_record.id}
        )
    return cas.ca_info(rt, record)
