"""PKCS#12 exports per second through ca_core.export.to_pkcs12, beside the bare cryptography call.

    .venv/bin/python -m bench.ca_core                   # 200 exports each
    .venv/bin/python -m bench.ca_core --quick --json /tmp/ca_core.json

Both sides export the same key, certificate and chain with the same encryption in the same run;
ratio = ours / bare time. Timings are printed, never asserted. (Signings/s is still to come: issue 11.)"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import PrivateFormat, pkcs12

from bench.crl import _authority
from ca_core.export import PKCS12_KDF_ROUNDS, to_pkcs12
from ca_core.signer import SoftwareSigner


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
    results = {"pkcs12": pkcs12_exports(5 if args.quick else 200)}
    r = results["pkcs12"]
    print(f"pkcs12: ours {r['ours_per_s']:.1f}/s  bare {r['bare_per_s']:.1f}/s  ratio {r['ratio']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
