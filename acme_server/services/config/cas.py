"""CA use-cases: create roots and intermediates (ours or signed by an offline root), list, disable,
and load a CA as a ca_core.CertificateAuthority ready to sign."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from acme_server.errors import Conflict, NotFound
from acme_server.hsm.uri import parse_uri
from acme_server.services.config import catalog
from acme_server.services.platform import audit
from acme_server.services.runtime import Runtime
from acme_server.statuses import CAStatus
from acme_server.storage import CARecord, Tx
from ca_core.authority import (
    CASettings,
    CertificateAuthority,
    check_crl_partitions,
    check_signed_intermediate,
    create_intermediate_csr,
    create_root,
)
from ca_core.authority import create_intermediate as sign_intermediate
from ca_core.errors import InvalidSetting
from ca_core.export import certificates_pem, load_certificates_pem
from ca_core.keys import KeyAlgorithm, PrivateKey, PublicKey, check_key, checked_public_key, generate_key
from ca_core.request import Subject
from ca_core.serials import random_serial
from ca_core.signer import Signer, SoftwareSigner
from ca_core.tokens import TokenSigner

ROOT_VALIDITY = timedelta(days=3650)
INTERMEDIATE_VALIDITY = timedelta(days=1825)


@dataclass(frozen=True)
class CAInfo:
    """A CA as operators see it; never carries key material."""

    id: str
    name: str
    kind: str  # root | intermediate | external
    status: CAStatus
    parent_id: str | None
    subject: str
    key_algorithm: str
    not_before: datetime | None
    not_after: datetime | None
    certificate_pem: str | None
    chain_pem: str  # the issuers above this CA, up to the root
    csr_pem: str | None
    settings: CASettings
    created_at: datetime
    key_uri: str | None = None  # the RFC 7512 URI of a key in a PKCS#11 token; None: sealed in the database
    crl_partitions_published: int = 1  # partitions with a CRL: the most the CA ever had

    @property
    def crl_urls(self) -> list[str]:
        """The URL of every CRL partition the CA publishes, partition 0 first."""
        urls = (self.settings.crl_url_of(p) for p in range(self.crl_partitions_published))
        return [url for url in urls if url is not None]

    @property
    def bundle_pem(self) -> str:
        """This CA's certificate followed by its chain: what `openssl verify -CAfile` needs."""
        return (self.certificate_pem or "") + self.chain_pem


def _pem(cert: x509.Certificate) -> str:
    return certificates_pem([cert])


def effective_settings(rt: Runtime, record: CARecord) -> CASettings:
    """Stored settings; the CRL and OCSP URLs default to the CA's stored status URL (only a row an
    older release inserted has none: then this process's)."""
    status_url = record.status_url or rt.status_base_url
    return CASettings(
        crl_url=record.crl_url or crl_url(status_url, record.id),
        ocsp_url=record.ocsp_url or f"{status_url}/ocsp",
        issuer_url=record.issuer_url,
        max_path_length=record.max_path_length,
        status_url=status_url,
        crl_partitions=record.crl_partitions,
    )


def crl_url(status_url: str, ca_id: str) -> str:
    """The CRL URL of a CA under a status URL; its partition k is at /crl/CA_ID/k.crl
    (CASettings.crl_url_of, the status routes)."""
    return f"{status_url}/crl/{ca_id}.crl"


def _status_url(value: str) -> str:
    """A status URL as stored: http(s), no trailing slash (the paths are appended to it)."""
    CASettings(status_url=value)  # the URL check
    return value.rstrip("/")


def _info(rt: Runtime, record: CARecord) -> CAInfo:
    subject = ""
    if record.certificate_pem:
        subject = load_certificates_pem(record.certificate_pem.encode())[0].subject.rfc4514_string()
    elif record.csr_pem:
        subject = x509.load_pem_x509_csr(record.csr_pem.encode()).subject.rfc4514_string()
    return CAInfo(
        id=record.id,
        name=record.name,
        kind=record.kind,
        status=record.status,
        parent_id=record.parent_id,
        subject=subject,
        key_algorithm=record.key_algorithm,
        not_before=record.not_before,
        not_after=record.not_after,
        certificate_pem=record.certificate_pem,
        chain_pem=record.chain_pem,
        csr_pem=record.csr_pem,
        settings=effective_settings(rt, record),
        created_at=record.created_at,
        crl_partitions_published=record.crl_partitions_published,
        key_uri=record.key_uri,
    )


async def find_record(tx: Tx, ref: str) -> CARecord:
    """A CA by id or by name."""
    record = await tx.cas.get(ref) or await tx.cas.get_by_name(ref)
    if record is None:
        raise NotFound("CA", ref)
    return record


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
) -> CAInfo:
    """One new CA row: its key sealed, its settings, and its certificate (or, pending, its CSR)."""
    async with rt.storage.transaction() as tx:
        record = await tx.cas.create(
            name=name,
            kind=kind,
            parent_id=parent_id,
            status=CAStatus.ACTIVE if certificate is not None else CAStatus.PENDING,
            certificate_pem=_pem(certificate) if certificate is not None else None,
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
            status_url=_status_url(settings.status_url or rt.status_base_url),
            crl_partitions=settings.crl_partitions,
        )
        await audit.record(tx, audit.current(), "ca.create", "ca", record.id, {"name": name, "kind": kind})
    return _info(rt, record)


async def create_root_ca(
    rt: Runtime,
    *,
    name: str,
    subject: Subject,
    key_algorithm: KeyAlgorithm | None = None,
    validity: timedelta = ROOT_VALIDITY,
    settings: CASettings | None = None,
    pkcs11_uri: str | None = None,
) -> CAInfo:
    """A self-signed root; its key generated here (sealed) or in/from the token `pkcs11_uri` names."""
    await _check_name_free(rt, name)
    settings = settings or CASettings()
    key = await _new_key(rt, key_algorithm, pkcs11_uri)
    certificate = await asyncio.to_thread(
        create_root,
        subject,
        key.signer,
        now=rt.clock.now(),
        validity=validity,
        serial=random_serial(),
        settings=settings,
    )
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
) -> CAInfo:
    await _check_name_free(rt, name)
    settings = settings or CASettings()
    async with rt.storage.read() as tx:
        parent_record = await find_record(tx, parent)
    authority = authority_from_record(rt, parent_record)
    key = await _new_key(rt, key_algorithm, pkcs11_uri)
    certificate = await asyncio.to_thread(
        sign_intermediate,
        authority,
        subject,
        key.public_key,
        now=rt.clock.now(),
        validity=validity,
        serial=random_serial(),
        settings=settings,
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
) -> CAInfo:
    """An intermediate whose certificate an offline root will sign: stored `pending` with its CSR."""
    await _check_name_free(rt, name)
    settings = settings or CASettings()
    key = await _new_key(rt, key_algorithm, pkcs11_uri)
    csr = await asyncio.to_thread(create_intermediate_csr, subject, key.signer)
    return await _store(rt, name, "external", key, settings, csr_pem=csr.public_bytes(Encoding.PEM).decode())


async def import_external_certificate(
    rt: Runtime, ca: str, certificate_pem: bytes, chain_pem: bytes
) -> CAInfo:
    """Complete a pending external CA with the certificate the offline root signed."""
    async with rt.storage.read() as tx:
        record = await find_record(tx, ca)
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
            certificate_pem=_pem(certificate),
            chain_pem=certificates_pem(above),
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
        ):
            raise Conflict(f"CA {record.name!r} was completed by another request")
        await audit.record(
            tx, audit.current(), "ca.import_certificate", "ca", record.id, {"name": record.name}
        )
        completed = await find_record(tx, record.id)
    return _info(rt, completed)


async def list_cas(rt: Runtime) -> list[CAInfo]:
    async with rt.storage.read() as tx:
        return [_info(rt, r) for r in await tx.cas.list()]


async def get_ca(rt: Runtime, ref: str) -> CAInfo:
    async with rt.storage.read() as tx:
        return _info(rt, await find_record(tx, ref))


async def set_ca_enabled(rt: Runtime, ref: str, enabled: bool) -> CAInfo:
    async with rt.storage.transaction() as tx:
        record = await find_record(tx, ref)
        if record.status == CAStatus.PENDING:
            raise Conflict(f"CA {record.name!r} has no certificate yet; import it first")
        await tx.cas.set_status(record.id, CAStatus.ACTIVE if enabled else CAStatus.DISABLED)
        await audit.record(tx, audit.current(), f"ca.{'enable' if enabled else 'disable'}", "ca", record.id)
        return _info(rt, await find_record(tx, record.id))


async def update_ca_settings(
    rt: Runtime, ref: str, *, status_url: str | None = None, crl_partitions: int | None = None
) -> CAInfo:
    """Change where the CA's certificates point relying parties (its status URL) or how many CRL
    partitions new certificates are spread over. Certificates already issued keep the URLs written
    into them; lowering the partitions keeps publishing the higher ones they name."""
    stored_url = _status_url(status_url) if status_url is not None else None
    async with rt.storage.transaction() as tx:
        record = await find_record(tx, ref)
        if crl_partitions is not None:
            check_crl_partitions(crl_partitions, record.crl_url)
        await tx.cas.update_settings(record.id, status_url=stored_url, crl_partitions=crl_partitions)
        if given := _given(status_url, crl_partitions):  # an empty update changes nothing: no row
            await audit.record(tx, audit.current(), "ca.update", "ca", record.id, given)
        return _info(rt, await find_record(tx, record.id))


def _given(status_url: str | None, crl_partitions: int | None) -> dict[str, object]:
    """The settings an update named, for its audit row."""
    given = {"statusUrl": status_url, "crlPartitions": crl_partitions}
    return {key: value for key, value in given.items() if value is not None}


async def unserved_status_urls(rt: Runtime, served: tuple[str, ...]) -> list[CAInfo]:
    """The CAs with a certificate whose stored status URL none of the `served` base URLs (a server's
    status and HTTPS listeners) is: relying parties following their certificates' CRL and OCSP URLs
    would not reach this server."""
    bases = {url.rstrip("/") for url in served}
    return [
        info
        for info in await list_cas(rt)
        if info.certificate_pem is not None and info.settings.status_url not in bases
    ]


def authority_from_record(rt: Runtime, record: CARecord) -> CertificateAuthority:
    """The signing CA for a stored record (the key is unsealed once per process)."""
    if record.certificate_pem is None:
        raise Conflict(f"CA {record.name!r} has no certificate yet; import the signed certificate first")
    certificate = load_certificates_pem(record.certificate_pem.encode())[0]
    chain = tuple(load_certificates_pem(record.chain_pem.encode())) if record.chain_pem.strip() else ()
    public_key = checked_public_key(certificate.public_key())
    signer = (
        rt.token_signer(record.key_uri, public_key)
        if record.key_uri is not None
        else rt.signer(record.sealed_key, public_key)
    )
    return CertificateAuthority(
        id=record.id,
        certificate=certificate,
        chain=chain,
        signer=signer,
        settings=effective_settings(rt, record),
        enabled=record.status == CAStatus.ACTIVE,
    )


async def check_token_keys(rt: Runtime) -> int:
    """Log in to the token of every CA whose key is in one and find the key (disabled CAs too: they
    still sign their CRLs): a wrong module, token, PIN or key then stops a start at once instead of
    failing its first signature. How many were checked."""
    async with rt.storage.read() as tx:
        records = [r for r in await tx.cas.list() if r.key_uri is not None and r.certificate_pem]
    for record in records:
        await asyncio.to_thread(authority_from_record, rt, record)
    return len(records)


async def load_authority(rt: Runtime, ref: str) -> CertificateAuthority:
    """The CA (by id or name) ready to sign, from the configuration catalog (one query when fresh)."""
    return authority_in(rt, await catalog.current(rt), ref)


def authority_in(rt: Runtime, configuration: catalog.Catalog, ref: str) -> CertificateAuthority:
    """The CA (by id or name) as of `configuration`, built once per configuration generation."""
    record = configuration.ca_record(ref)
    return configuration.authority(record.id, lambda: authority_from_record(rt, record))


async def cross_sign_ca(
    rt: Runtime, ca: str, *, issuer: str, validity: timedelta = INTERMEDIATE_VALIDITY
) -> CAInfo:
    """Have `issuer` sign `ca`'s key and subject too: certificates of `ca` then have an alternate chain
    up to `issuer`'s root (a CA rotation or a second trust anchor, as Pebble's alternate roots)."""
    async with rt.storage.read() as tx:
        record = await find_record(tx, ca)
        issuer_record = await find_record(tx, issuer)
    if record.certificate_pem is None:
        raise Conflict(f"CA {record.name!r} has no certificate yet")
    if record.id == issuer_record.id or record.parent_id == issuer_record.id:
        raise Conflict(f"CA {issuer_record.name!r} already issued {record.name!r}")
    certificate = load_certificates_pem(record.certificate_pem.encode())[0]
    parent = authority_from_record(rt, issuer_record)
    cross = sign_intermediate(
        parent,
        Subject.from_x509_name(certificate.subject),
        certificate.public_key(),  # type: ignore[arg-type]
        now=rt.clock.now(),
        validity=validity,
        serial=random_serial(),
        settings=effective_settings(rt, record),
    )
    async with rt.storage.transaction() as tx:
        await tx.cross_certificates.create(
            ca_id=record.id, issuer_id=issuer_record.id, certificate_pem=_pem(cross)
        )
        await audit.record(
            tx, audit.current(), "ca.cross_sign", "ca", record.id, {"issuer": issuer_record.id}
        )
    return _info(rt, record)


async def alternate_chains(rt: Runtime, ca_id: str) -> list[str]:
    """The alternate chains of a certificate `ca_id` issued (Catalog.alternate_chains)."""
    return (await catalog.current(rt)).alternate_chains(ca_id)
