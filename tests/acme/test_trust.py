"""Trust bootstrap URLs: unauthenticated, stable, the PEM a client needs to trust us."""

from __future__ import annotations

from cryptography import x509

from acme_server.services.config import cas
from tests.acme.conftest import AcmeServer


async def test_roots_bundle_root_zero_and_ca_chains(acme: AcmeServer) -> None:
    root = (await cas.get_ca(acme.rt, "dev-root")).certificate_pem
    cross_root = (await cas.get_ca(acme.rt, "dev-cross-root")).certificate_pem
    bundle = await acme.http.get(f"{acme.url}/roots.pem")
    assert bundle.status_code == 200 and bundle.headers["content-type"] == "application/pem-certificate-chain"
    assert bundle.text == f"{root}{cross_root}"
    assert (await acme.http.get(f"{acme.url}/roots/0")).text == root
    assert (await acme.http.get(f"{acme.url}/roots/9")).status_code == 404
    chain = await acme.http.get(f"{acme.url}/ca/dev-intermediate.pem")
    certificates = x509.load_pem_x509_certificates(chain.content)
    assert [c.subject.rfc4514_string() for c in certificates] == [
        "CN=ACME Server Dev Intermediate CA,O=acme-server",
        "CN=ACME Server Dev Root CA,O=acme-server",
    ]
    missing = await acme.http.get(f"{acme.url}/ca/nope.pem")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
