"""Signings per second (P-256 and RSA-2048 issuers) and PKCS#12 exports per second through ca_core,
each beside the bare cryptography call doing the same work in the same run.

    .venv/bin/python -m bench.ca_core                   # 500 signings per issuer, 200 exports
    .venv/bin/python -m bench.ca_core --quick --json /tmp/ca_core.json

A signing is what finalize asks of the CA core: parse and verify a DER CSR (P-256 leaf key), check it
against the profile, build the certificate with the profile's extensions and sign it. The bare side
loads and verifies the same CSR and signs a builder carrying the very extensions our certificate got
(made once, outside the loop), so the ratio is the cost of our checks and extension logic alone.
Exports: both sides export the same key, certificate and chain with the same encryption.
ratio = ours / bare time. Timings are printed, never asserted."""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, PrivateFormat, pkcs12

from bench.crl import _authority
from ca_core.csr import build_csr, parse_csr
from ca_core.export import PKCS12_KDF_ROUNDS, to_pkcs12
from ca_core.issuance import issue
from ca_core.keys import KeyAlgorithm, generate_key
from ca_core.profile import Profile
from ca_core.request import Subject, SubjectAltNames
from ca_core.serials import random_serial
from ca_core.signer import SoftwareSigner, signature_hash


def _leaf_csr() -> bytes:
    key = generate_key(KeyAlgorithm.EC_prime256v1)
    name = "web.bench.example"
    return build_csr(Subject(common_name=name), SubjectAltNames(dns=(name,)), key).public_bytes(Encoding.DER)


def signings(algorithm: KeyAlgorithm, count: int) -> dict[str, Any]:
    """`count` leaf certificates signed by an issuer with a key of `algorithm`, ours then bare."""
    ca, profile, csr = _authority(algorithm), Profile(name="web", ca_id="inter"), _leaf_csr()
    now = datetime.now(UTC)
    started = time.perf_counter()
    for _ in range(count):
        issued = issue(ca, profile, parse_csr(csr, der_only=True), serial=random_serial(), now=now)
    ours = time.perf_counter() - started
    model = issued.certificate
    signer = ca.signer
    assert isinstance(signer, SoftwareSigner)
    started = time.perf_counter()
    for _ in range(count):
        request = x509.load_der_x509_csr(csr)
        assert request.is_signature_valid
        builder = x509.CertificateBuilder(
            model.issuer, model.subject, request.public_key(), random_serial(),
            model.not_valid_before_utc, model.not_valid_after_utc, list(model.extensions),
        )  # fmt: skip
        builder.sign(signer.private_key, signature_hash(signer.private_key))
    bare = time.perf_counter() - started
    return {"count": count, "ours_per_s": count / ours, "bare_per_s": count / bare, "ratio": ours / bare}


def pkcs12_exports(count: int) -> dict[str, Any]:
    """`count` exports of the issuing CA's own key and certificate, ours then bare."""
    ca = _authority()
    assert isinstance(ca.signer, SoftwareSigner)
    key = ca.signer.private_key
    chain = list(ca.chain)
    started = time.perf_counter()
    for _ in range(count):
        to_pkcs12(ca.certificate, chain, key, password="bench", alias="bench")
    ours = time.perf_counter() - started
    # The same PBES2/SHA-256 encryption ca_core.export uses, so the ratio is the wrapper's cost alone.
    encryption = (
        PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(PKCS12_KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(b"bench")
    )
    started = time.perf_counter()
    for _ in range(count):
        pkcs12.serialize_key_and_certificates(b"bench", key, ca.certificate, chain, encryption)
    bare = time.perf_counter() - started
    return {"count": count, "ours_per_s": count / ours, "bare_per_s": count / bare, "ratio": ours / bare}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ca_core", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts: harness check, seconds")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    signing_count = 5 if args.quick else 500
    results = {
        "sign_p256": signings(KeyAlgorithm.EC_prime256v1, signing_count),
        "sign_rsa2048": signings(KeyAlgorithm.RSA_2048, signing_count),
        "pkcs12": pkcs12_exports(5 if args.quick else 200),
    }
    for label, r in results.items():
        print(
            f"{label:13} ours {r['ours_per_s']:7.1f}/s  bare {r['bare_per_s']:7.1f}/s  ratio {r['ratio']:.2f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
