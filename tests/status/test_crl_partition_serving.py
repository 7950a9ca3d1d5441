"""Partitioned CRLs against a running status listener or sidecar, on SQLite and PostgreSQL: `openssl
verify -crl_check -crl_download` follows each certificate's distribution point to its partition's CRL
(whose issuing distribution point must name the same URL, RFC 5280 §5.2.5), before and after
revocation, in partition 0 and in a partition k > 0."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from cryptography import x509

from acme_server.services.config import cas
from acme_server.services.inventory import edits
from acme_server.services.inventory.certificates import CertificateInfo
from acme_server.services.status import crls
from ca_core.revocation import RevocationReason
from tests.status.conftest import StatusStack
from tests.status.test_openssl_status import verify_with_crl_download

CA = "dev-intermediate"


def distribution_point(info: CertificateInfo) -> str:
    leaf = x509.load_pem_x509_certificate(info.certificate_pem.encode())
    points = leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    name = points[0].full_name
    assert name is not None
    return str(name[0].value)


async def issue_into(stack: StatusStack, wanted: set[int]) -> dict[int, CertificateInfo]:
    """Certificates until one of each `wanted` partition (serials are random: partition = serial mod N)."""
    urls = (await cas.get_ca(stack.rt, CA)).crl_urls
    found: dict[int, CertificateInfo] = {}
    for n in range(200):
        info = await stack.issue(f"p{n}.example.internal")
        partition = urls.index(distribution_point(info))
        assert partition == int(info.serial, 16) % (await cas.get_ca(stack.rt, CA)).settings.crl_partitions
        found.setdefault(partition, info)
        if wanted <= found.keys():
            return {p: found[p] for p in wanted}
    raise AssertionError(f"no certificate in partitions {wanted - found.keys()} after 200")


def listed(crl_der: bytes) -> set[int]:
    return {entry.serial_number for entry in x509.load_der_x509_crl(crl_der)}


async def test_openssl_crl_download_in_partition_0_and_k_before_and_after_revocation(
    stack: StatusStack,
) -> None:
    ca = await crls.update_ca(stack.rt, CA, crl_partitions=4)
    assert ca.crl_urls == [
        f"{stack.status_url}/crl/{ca.id}.crl",
        *(f"{stack.status_url}/crl/{ca.id}/{k}.crl" for k in (1, 2, 3)),
    ]
    issued = await issue_into(stack, {0, 3})
    for info in issued.values():
        cert, _, chain = await stack.files(info)
        output = await verify_with_crl_download(cert, chain)
        assert output.strip().endswith(f"{cert}: OK"), output
    for info in issued.values():
        await edits.revoke_certificate(stack.rt, info.id, RevocationReason.KEY_COMPROMISE)
    for info in issued.values():
        cert, _, chain = await stack.files(info)
        output = await verify_with_crl_download(cert, chain)
        assert "certificate revoked" in output and ": OK" not in output, output
    # Each revocation is listed in its own partition's CRL only.
    serials = {p: int(info.serial, 16) for p, info in issued.items()}
    for partition, url in enumerate(ca.crl_urls):
        served = listed((await stack.http.get(url)).content)
        assert served & set(serials.values()) == ({serials[partition]} if partition in serials else set())


async def test_partition_crls_carry_their_url_caching_headers_and_growing_numbers(
    stack: StatusStack,
) -> None:
    ca = await crls.update_ca(stack.rt, CA, crl_partitions=3)
    url = ca.crl_urls[2]
    first = await stack.http.get(url)
    assert first.status_code == 200 and first.headers["content-type"] == "application/pkix-crl"
    crl = x509.load_der_x509_crl(first.content)
    idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
    assert idp.critical and idp.value.full_name == [x509.UniformResourceIdentifier(url)]
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert first.headers["etag"] == f'"{ca.id}-{number}"'
    assert first.headers["cache-control"] == "public, max-age=300, no-transform"
    assert parsedate_to_datetime(first.headers["expires"]) == crl.next_update_utc.replace(microsecond=0)
    assert parsedate_to_datetime(first.headers["last-modified"]) == crl.last_update_utc.replace(microsecond=0)
    unchanged = await stack.http.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert unchanged.status_code == 304 and unchanged.content == b""
    pem = await stack.http.get(url.removesuffix(".crl") + ".pem")
    assert x509.load_pem_x509_crl(pem.content) == crl

    (info,) = (await issue_into(stack, {2})).values()
    await edits.revoke_certificate(stack.rt, info.id, RevocationReason.SUPERSEDED)
    after = x509.load_der_x509_crl((await stack.http.get(url)).content)
    assert after.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number > number
    assert int(info.serial, 16) in {entry.serial_number for entry in after}

    # One URL per CRL: partition 0 is /crl/CA_ID.crl; partitions past the published ones do not exist.
    for missing in (f"/crl/{ca.id}/0.crl", f"/crl/{ca.id}/3.crl", f"/crl/{ca.id}/3.pem"):
        response = await stack.http.get(stack.status_url + missing)
        assert response.status_code == 404, missing
        assert response.headers["content-type"] == "application/problem+json"


async def test_fewer_partitions_later_keep_serving_the_ones_certificates_name(stack: StatusStack) -> None:
    await crls.update_ca(stack.rt, CA, crl_partitions=4)
    (old,) = (await issue_into(stack, {3})).values()
    ca = await crls.update_ca(stack.rt, CA, crl_partitions=2)
    assert ca.settings.crl_partitions == 2 and len(ca.crl_urls) == 4  # partitions 2 and 3 stay published
    newer = [await stack.issue(f"new{n}.example.internal") for n in range(6)]
    assert {distribution_point(info) for info in newer} <= set(ca.crl_urls[:2])
    cert, _, chain = await stack.files(old)
    assert (await verify_with_crl_download(cert, chain)).strip().endswith(f"{cert}: OK")
    await edits.revoke_certificate(stack.rt, old.id, RevocationReason.KEY_COMPROMISE)
    assert "certificate revoked" in await verify_with_crl_download(cert, chain)
