"""The dev bootstrap: created once (even when started concurrently), usable at once."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from acme_server.services.config import cas, policies, profiles
from acme_server.services.platform import bootstrap
from acme_server.services.runtime import Runtime
from tests.tools import openssl, write


async def test_empty_database_gets_root_intermediate_policy_and_profile(rt: Runtime) -> None:
    assert await bootstrap.ensure_dev_setup(rt) is True
    found = {ca.name: ca for ca in await cas.list_cas(rt)}
    assert set(found) == {"dev-root", "dev-intermediate", "dev-cross-root"}
    assert found["dev-root"].kind == "root"
    assert found["dev-intermediate"].parent_id == found["dev-root"].id
    assert len(await cas.alternate_chains(rt, found["dev-intermediate"].id)) == 1
    profile = (await profiles.get_profile(rt, "default")).profile
    assert profile.ca_id == found["dev-intermediate"].id
    assert profile.policy_id == (await policies.get_policy(rt, "default")).id


async def test_second_start_changes_nothing(dev: Runtime) -> None:
    before = await cas.list_cas(dev)
    assert await bootstrap.ensure_dev_setup(dev) is False
    assert [c.id for c in await cas.list_cas(dev)] == [c.id for c in before]


async def test_concurrent_first_starts_create_one_set(rt: Runtime) -> None:
    results = await asyncio.gather(*(bootstrap.ensure_dev_setup(rt) for _ in range(3)))
    assert sorted(results) == [False, False, True]
    assert len(await cas.list_cas(rt)) == 3


async def test_server_tls_certificate_chains_to_trust_bundle(dev: Runtime, tmp_path: Path) -> None:
    files = await bootstrap.ensure_server_tls(dev, tmp_path / "tls", "127.0.0.1")
    assert files.key.stat().st_mode & 0o777 == 0o600
    bundle = await bootstrap.write_trust_bundle(dev, tmp_path / "root.pem")
    leaf, *chain = x509.load_pem_x509_certificates(files.certificate.read_bytes())
    write(tmp_path / "chain.pem", b"".join(c.public_bytes(Encoding.PEM) for c in chain))
    openssl("verify", "-CAfile", bundle, "-untrusted", tmp_path / "chain.pem", files.certificate)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)


async def test_server_tls_is_reused_until_it_no_longer_fits(dev: Runtime, tmp_path: Path) -> None:
    first = await bootstrap.ensure_server_tls(dev, tmp_path, "127.0.0.1")
    pem = first.certificate.read_bytes()
    await bootstrap.ensure_server_tls(dev, tmp_path, "127.0.0.1")
    assert first.certificate.read_bytes() == pem
    await bootstrap.ensure_server_tls(dev, tmp_path, "127.0.0.2")
    assert first.certificate.read_bytes() != pem
