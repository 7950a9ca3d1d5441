"""Checks every issuing scenario makes on what it got back: the names (RFC 8555 §7.4: the certificate
covers exactly the order's identifiers) and a chain that verifies to the target's root."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store

from conformance.servers import Target


def dns_names(certificate: x509.Certificate) -> set[str]:
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName))


def check_chain(target: Target, chain: list[x509.Certificate], names: list[str]) -> x509.Certificate:
    """The leaf names exactly `names` and verifies, as a TLS server certificate, to a root of the
    target through the intermediates that came with it. Returns the leaf."""
    assert chain, "no certificate"
    leaf, intermediates = chain[0], chain[1:]
    assert dns_names(leaf) == set(names)
    probe = next((n for n in names if not n.startswith("*.")), "probe." + names[0].removeprefix("*."))
    verifier = (
        PolicyBuilder()
        .store(Store(target.issuer_roots()))
        .time(datetime.now(UTC))
        .build_server_verifier(x509.DNSName(probe))
    )
    verifier.verify(leaf, intermediates)
    return leaf


def check_pem_chain(target: Target, pem: Path | bytes, names: list[str]) -> x509.Certificate:
    data = pem.read_bytes() if isinstance(pem, Path) else pem
    return check_chain(target, x509.load_pem_x509_certificates(data), names)
