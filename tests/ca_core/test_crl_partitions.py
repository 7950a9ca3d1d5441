"""Partitioned CRLs (RFC 5280 §5.2.5): each certificate's distribution point names one partition, and
that partition's CRL names the same URL in its critical issuing distribution point, which openssl
holds the certificate to."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509

from ca_core.authority import CASettings, CertificateAuthority
from ca_core.crl import build_crl
from ca_core.errors import InvalidSetting
from ca_core.issuance import IssuedCertificate, issue
from ca_core.revocation import RevocationReason, RevokedEntry
from tests.ca_core.helpers import (
    CRL_URL,
    NOW,
    leaf_request,
    make_intermediate,
    make_root,
    openssl_text,
    web_profile,
    write_pem,
)
from tests.ca_core.test_crl import verify_with_crl

NEXT = NOW + timedelta(days=7)
PARTITIONS = 4


@pytest.fixture(scope="module")
def inter() -> CertificateAuthority:
    return make_intermediate(make_root(), settings=CASettings(crl_url=CRL_URL, crl_partitions=PARTITIONS))


def issue_in(ca: CertificateAuthority, partition: int) -> IssuedCertificate:
    """A leaf whose serial falls in `partition` (serial mod N)."""
    serial = 0x1234_5678_9ABC_DEF0 * PARTITIONS + partition
    return issue(ca, web_profile(), leaf_request()[0], serial=serial, now=NOW)


def distribution_point(certificate: x509.Certificate) -> str:
    points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    name = points[0].full_name
    assert name is not None
    return str(name[0].value)


def partition_crl(
    ca: CertificateAuthority, partition: int, *entries: RevokedEntry
) -> x509.CertificateRevocationList:
    return build_crl(
        ca,
        entries,
        number=10 + partition,
        this_update=NOW,
        next_update=NEXT,
        distribution_point=ca.settings.crl_url_of(partition),
    )


def test_partition_urls_keep_partition_0_at_the_ca_crl_url() -> None:
    settings = CASettings(crl_url="http://pki.example/crl/ca-1.crl", crl_partitions=3)
    assert [settings.crl_url_of(p) for p in range(3)] == [
        "http://pki.example/crl/ca-1.crl",
        "http://pki.example/crl/ca-1/1.crl",
        "http://pki.example/crl/ca-1/2.crl",
    ]
    assert [settings.crl_partition_of(serial) for serial in (9, 10, 11, 12)] == [0, 1, 2, 0]


def test_each_certificate_names_the_partition_of_its_serial(inter: CertificateAuthority) -> None:
    for partition in range(PARTITIONS):
        issued = issue_in(inter, partition)
        assert issued.crl_partition == partition
        assert distribution_point(issued.certificate) == inter.settings.crl_url_of(partition)


def test_one_partition_writes_the_crl_url_and_no_idp(tmp_path: Path) -> None:
    """N = 1 (the default): certificates and CRLs exactly as an unpartitioned CA's."""
    ca = make_intermediate(make_root())
    issued = issue(ca, web_profile(), leaf_request()[0], serial=12345, now=NOW)
    assert issued.crl_partition == 0 and distribution_point(issued.certificate) == CRL_URL
    crl = build_crl(ca, [], number=1, this_update=NOW, next_update=NEXT)
    with pytest.raises(x509.ExtensionNotFound):
        crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
    assert "Issuing Distribution Point" not in openssl_text("crl", write_pem(tmp_path, "crl.pem", crl))


def test_rfc5280_5_2_5_the_idp_is_critical_and_names_the_partition_url(
    inter: CertificateAuthority, tmp_path: Path
) -> None:
    crl = partition_crl(inter, 2)
    extension = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
    assert extension.critical
    assert extension.value.full_name == [x509.UniformResourceIdentifier(f"{CRL_URL[:-4]}/2.crl")]
    assert not extension.value.only_contains_user_certs and not extension.value.indirect_crl
    text = openssl_text("crl", write_pem(tmp_path, "crl.pem", crl))
    assert f"X509v3 Issuing Distribution Point: critical Full Name: URI:{CRL_URL[:-4]}/2.crl" in text


def test_openssl_checks_a_certificate_against_its_own_partition_only(
    inter: CertificateAuthority, tmp_path: Path
) -> None:
    issued = issue_in(inter, 3)
    assert verify_with_crl(tmp_path, issued, partition_crl(inter, 3)).strip().endswith("cert.pem: OK")
    # Another partition's CRL does not cover it: its IDP names another URL than the certificate's CDP.
    assert "different CRL scope" in verify_with_crl(tmp_path, issued, partition_crl(inter, 1))
    revoked = RevokedEntry(issued.serial, NOW, RevocationReason.KEY_COMPROMISE)
    assert "certificate revoked" in verify_with_crl(tmp_path, issued, partition_crl(inter, 3, revoked))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"crl_partitions": 0}, "crlPartitions: must be from 1 to 1024, got 0"),
        ({"crl_partitions": 1025}, "crlPartitions: must be from 1 to 1024, got 1025"),
        ({"crl_partitions": True}, "crlPartitions: must be an integer, got True"),
        (
            {"crl_partitions": 2, "crl_url": "http://pki.example/crl?ca=1"},
            "crlPartitions: partitions are named after a CRL URL ending in .crl",
        ),
        ({"status_url": "ftp://pki.example"}, "statusUrl: 'ftp://pki.example' is not an http(s) URL"),
    ],
)
def test_bad_partition_settings_name_the_field(settings: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidSetting) as caught:
        replace(CASettings(), **settings)
    assert str(caught.value.detail).startswith(message)
