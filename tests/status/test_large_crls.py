"""Large CRLs are signed in a child process (cryptography holds the GIL while it signs): the CRL it
makes is the same as the in-thread one — every entry with its reason, the next number, the CA's
signature — and openssl accepts it."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from acme_server.services import issuance
from acme_server.services.config import cas
from acme_server.services.inventory import edits
from acme_server.services.issuance import ManagedRequest
from acme_server.services.platform import bootstrap
from acme_server.services.runtime import Runtime
from acme_server.services.status import crls
from acme_server.storage import Storage
from ca_core.keyprotect import KeyEncryptionKey
from ca_core.request import Subject, SubjectAltNames
from ca_core.revocation import RevocationReason
from tests.tools import openssl, write


async def test_a_crl_signed_in_a_child_process_equals_the_threaded_one(
    storage: Storage, tmp_path: Path
) -> None:
    rt = Runtime(storage=storage, kek=KeyEncryptionKey.generate(), public_url="https://127.0.0.1:1")
    await bootstrap.ensure_dev_setup(rt)
    revoked = []
    for index, reason in enumerate((RevocationReason.KEY_COMPROMISE, RevocationReason.UNSPECIFIED)):
        name = f"big-{index}.example.internal"
        info = await issuance.issue_certificate(
            rt,
            profile="default",
            managed=ManagedRequest(Subject(common_name=name), SubjectAltNames(dns=(name,))),
        )
        revoked.append(await edits.revoke_certificate(rt, info.id, reason))
    ca = await cas.get_ca(rt, "dev-intermediate")
    threaded = await crls.generate_crl(rt, ca.id)
    child = await crls.generate_crl(rt, ca.id, process_threshold=0)
    assert child.number == threaded.number + 1
    issuer = x509.load_pem_x509_certificate((ca.certificate_pem or "").encode())
    parsed = x509.load_der_x509_crl(child.der)
    assert parsed.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    expected = x509.load_der_x509_crl(threaded.der)
    assert sorted((e.serial_number, e.revocation_date_utc) for e in parsed) == sorted(
        (e.serial_number, e.revocation_date_utc) for e in expected
    )
    entry = parsed.get_revoked_certificate_by_serial_number(int(revoked[0].serial, 16))
    assert entry is not None
    assert (
        entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        is x509.ReasonFlags.key_compromise
    )
    text = openssl(
        "crl", "-in", write(tmp_path / "crl.der", child.der), "-inform", "DER", "-noout", "-text"
    ).stdout
    assert f"X509v3 CRL Number: {child.number}" in " ".join(text.split())


async def test_the_partitions_of_a_large_ca_are_signed_by_the_signer_pool(storage: Storage) -> None:
    """generate_crls with as many entries as the threshold between the partitions: the signer pool's
    children sign them all (one spawn for the publication), and each partition's CRL lists its own
    revocations and names its URL in its IDP."""
    rt = Runtime(storage=storage, kek=KeyEncryptionKey.generate(), public_url="https://127.0.0.1:1")
    await bootstrap.ensure_dev_setup(rt)
    ca = await crls.update_ca(rt, "dev-intermediate", crl_partitions=3)
    by_partition: dict[int, set[int]] = {}
    for index in range(6):
        name = f"part-{index}.example.internal"
        info = await issuance.issue_certificate(
            rt,
            profile="default",
            managed=ManagedRequest(Subject(common_name=name), SubjectAltNames(dns=(name,))),
        )
        await edits.revoke_certificate(rt, info.id, RevocationReason.KEY_COMPROMISE)
        by_partition.setdefault(int(info.serial, 16) % 3, set()).add(int(info.serial, 16))
    published = await crls.generate_crls(rt, ca.id, process_threshold=6)  # 6 entries: the child
    issuer = x509.load_pem_x509_certificate((ca.certificate_pem or "").encode())
    assert [info.partition for info in published] == [0, 1, 2]
    assert [info.number for info in published] == sorted({info.number for info in published})
    for info, url in zip(published, ca.crl_urls, strict=True):
        parsed = x509.load_der_x509_crl(info.der)
        assert parsed.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
        assert {e.serial_number for e in parsed} == by_partition.get(info.partition, set())
        idp = parsed.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
        assert idp.full_name == [x509.UniformResourceIdentifier(url)]
