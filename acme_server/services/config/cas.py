"""CA use-cases once a CA exists: list and show it, enable or disable it, change its status URL or CRL
partitions, and load it as a ca_core.CertificateAuthority ready to sign (creating one: ca_creation.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from acme_server.errors import Conflict
from acme_server.services.config import catalog, named
from acme_server.services.platform import audit
from acme_server.services.runtime import Runtime
from acme_server.statuses import CAStatus
from acme_server.storage import CARecord, Tx
from ca_core.authority import (
    CASettings,
    CertificateAuthority,
    check_crl_partitions,
)
from ca_core.export import certificates_pem, load_certificates_pem
from ca_core.keys import checked_public_key


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


def pem(cert: x509.Certificate) -> str:
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


def stored_status_url(value: str) -> str:
    """A status URL as stored: http(s), no trailing slash (the paths are appended to it)."""
    CASettings(status_url=value)  # the URL check
    return value.rstrip("/")


def ca_info(rt: Runtime, record: CARecord) -> CAInfo:
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
    return await named.find(tx.cas, "CA", ref)


async def list_cas(rt: Runtime) -> list[CAInfo]:
    async with rt.storage.read() as tx:
        return [ca_info(rt, r) for r in await tx.cas.list()]


async def get_ca(rt: Runtime, ref: str) -> CAInfo:
    async with rt.storage.read() as tx:
        return ca_info(rt, await find_record(tx, ref))


async def set_ca_enabled(rt: Runtime, ref: str, enabled: bool) -> CAInfo:
    async with rt.storage.transaction() as tx:
        record = await find_record(tx, ref)
        if record.status == CAStatus.PENDING:
            raise Conflict(f"CA {record.name!r} has no certificate yet; import it first")
        await tx.cas.set_status(record.id, CAStatus.ACTIVE if enabled else CAStatus.DISABLED)
        await audit.record(tx, audit.current(), f"ca.{'enable' if enabled else 'disable'}", "ca", record.id)
        return ca_info(rt, await find_record(tx, record.id))


async def update_ca_settings(
    rt: Runtime, ref: str, *, status_url: str | None = None, crl_partitions: int | None = None
) -> CAInfo:
    """Change where the CA's certificates point relying parties (its status URL) or how many CRL
    partitions new certificates are spread over. Certificates already issued keep the URLs written
    into them; lowering the partitions keeps publishing the higher ones they name."""
    stored_url = stored_status_url(status_url) if status_url is not None else None
    async with rt.storage.transaction() as tx:
        record = await find_record(tx, ref)
        if crl_partitions is not None:
            check_crl_partitions(crl_partitions, record.crl_url)
        await tx.cas.update_settings(record.id, status_url=stored_url, crl_partitions=crl_partitions)
        if given := _given(status_url, crl_partitions):  # an empty update changes nothing: no row
            await audit.record(tx, audit.current(), "ca.update", "ca", record.id, given)
        return ca_info(rt, await find_record(tx, record.id))


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


async def alternate_chains(rt: Runtime, ca_id: str) -> list[str]:
    """The alternate chains of a certificate `ca_id` issued (Catalog.alternate_chains)."""
    return (await catalog.current(rt)).alternate_chains(ca_id)
