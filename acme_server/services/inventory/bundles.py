"""A stored certificate's materials: the certificate, its chain and (for a server-held key) the
unsealed private key. Export (services/inventory/export.py) and syncs (services/delivery/pushes.py)
both read them here."""

from __future__ import annotations

from cryptography import x509

from acme_server.services.runtime import Runtime
from acme_server.storage import CertificateRecord
from ca_core.export import PemBundle, load_certificates_pem, pem_bundle
from ca_core.keys import PrivateKey, checked_public_key


def materials(
    rt: Runtime, record: CertificateRecord
) -> tuple[x509.Certificate, list[x509.Certificate], PrivateKey | None]:
    certificate = load_certificates_pem(record.certificate_pem.encode())[0]
    chain = load_certificates_pem(record.chain_pem.encode()) if record.chain_pem.strip() else []
    key = None
    if record.sealed_key is not None:
        key = rt.unseal(record.sealed_key, checked_public_key(certificate.public_key()))
    return certificate, chain, key


def pem_bundle_of(rt: Runtime, record: CertificateRecord) -> PemBundle:
    return pem_bundle(*materials(rt, record))
