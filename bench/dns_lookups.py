"""CPU per validation's DNS look-ups, in process: the VA's Resolver (validation/resolver.py over
validation/dns_wire.py) beside dnspython's own resolver, in the same run, against pebble-challtestsrv
(the mock DNS the ACME benchmark validates with; every A query answers 127.0.0.1, no AAAA, no CAA).

One "validation" is what an http-01 challenge with CAA checking asks: A and AAAA for the name, then
CAA at the name and each parent up to the TLD (three queries for x.bench.test). Process CPU time per
validation is the figure (the DNS server runs in its own process, on the other CPU when there is one).

    PYTHONPATH=. .venv/bin/python -m bench.dns_lookups            # 1000 validations each
    PYTHONPATH=. .venv/bin/python -m bench.dns_lookups --quick    # harness check (CI)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype

from acme_server.validation import ValidationSettings
from acme_server.validation.resolver import Resolver
from conformance.servers import ChallTestSrv

Lookup = Callable[[str], Awaitable[object]]


def ours(port: int) -> Lookup:
    resolver = Resolver(ValidationSettings(timeout=5.0, dns_resolver=("127.0.0.1", port)))

    async def validation(name: str) -> object:
        return await resolver.lookup_addresses(name), await resolver.lookup_caa(name)

    return validation


def dnspython(port: int) -> Lookup:
    """The same questions through dnspython's resolver, as the VA asked them before dns_wire."""
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", port)]
    resolver.cache = None

    async def ask(name: str, rdtype: dns.rdatatype.RdataType) -> object:
        with contextlib.suppress(dns.exception.DNSException):  # NODATA and NXDOMAIN raise
            return await resolver.resolve(name, rdtype, search=False)
        return None

    async def validation(name: str) -> object:
        labels = name.split(".")
        found = await asyncio.gather(ask(name, dns.rdatatype.A), ask(name, dns.rdatatype.AAAA))
        for index in range(len(labels)):
            await ask(".".join(labels[index:]), dns.rdatatype.CAA)
        return found

    return validation


async def _measure(lookup: Lookup, prefix: str, count: int) -> float:
    for index in range(min(50, count)):
        await lookup(f"warm{index}.{prefix}.bench.test")
    cpu = time.process_time()
    for index in range(count):
        await lookup(f"x{index}.{prefix}.bench.test")
    return (time.process_time() - cpu) / count * 1e6


def run(count: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as directory:
        server = ChallTestSrv(Path(directory))
        try:
            assert server.dns_port is not None
            if len(os.sched_getaffinity(0)) > 1:  # the DNS server on another CPU than ours
                os.sched_setaffinity(server.process.popen.pid, {max(os.sched_getaffinity(0))})
            port = server.dns_port

            async def both() -> dict[str, float]:
                return {
                    "ours (dns_wire)": await _measure(ours(port), "ours", count),
                    "dnspython resolver": await _measure(dnspython(port), "dnspython", count),
                }

            return asyncio.run(both())
        finally:
            server.process.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--validations", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="20 validations each: checks the harness only")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    figures = run(20 if args.quick else args.validations)
    print(f"{'resolver':<22} {'CPU us/validation':>18}")
    for name, cpu in figures.items():
        print(f"{name:<22} {cpu:>18.0f}")
    print(f"ratio: ours / dnspython = {figures['ours (dns_wire)'] / figures['dnspython resolver']:.2f}")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
