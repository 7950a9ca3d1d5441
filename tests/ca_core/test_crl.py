"""CRLs and revocation reasons: openssl honours the CRL, shows its reason codes and number."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509

from ca_core.authority import CertificateAuthority
from ca_core.crl import build_crl
from ca_core.errors import InvalidSetting
from ca_core.issuance import IssuedCertificate, issue
from ca_core.revocation import RevocationReason, RevokedEntry
from ca_core.serials import random_serial
from tests.ca_core.helpers import (
    NOW,
    leaf_request,
    make_intermediate,
    make_root,
    openssl,
    openssl_text,
    web_profile,
    write_pem,
)

NEXT = NOW + timedelta(days=7)


@pytest.fixture(scope="module")
def inter() -> CertificateAuthority:
    return make_intermediate(make_root())


def leaf(ca: CertificateAuthority) -> IssuedCertificate:
    return issue(ca, web_profile(), leaf_request()[0], serial=random_serial(), now=NOW)


def crl_of(
    ca: CertificateAuthority, *entries: RevokedEntry, number: int = 1
) -> x509.CertificateRevocationList:
    return build_crl(ca, entries, number=number, this_update=NOW, next_update=NEXT)


def verify_with_crl(tmp_path: Path, issued: IssuedCertificate, crl: x509.CertificateRevocationList) -> str:
    result = openssl(
        "verify", "-crl_check",
        "-CAfile", write_pem(tmp_path, "chain.pem", *issued.chain),
        "-CRLfile", write_pem(tmp_path, "crl.pem", crl),
        write_pem(tmp_path, "cert.pem", issued.certificate),
        check=False,
    )  # fmt: skip
    return result.stdout + result.stderr


def test_openssl_accepts_the_certificate_until_the_crl_lists_it(
    inter: CertificateAuthority, tmp_path: Path
) -> None:
    issued = leaf(inter)
    other = RevokedEntry(random_serial(), NOW, RevocationReason.SUPERSEDED)
    assert verify_with_crl(tmp_path, issued, crl_of(inter, other)).strip().endswith(": OK")
    revoked = RevokedEntry(issued.serial, NOW, RevocationReason.KEY_COMPROMISE)
    output = verify_with_crl(tmp_path, issued, crl_of(inter, other, revoked, number=2))
    assert "certificate revoked" in output
    assert ": OK" not in output


def test_crl_shows_number_issuer_aki_and_reason_codes(inter: CertificateAuthority, tmp_path: Path) -> None:
    serial = 0x0A1B2C3D
    crl = crl_of(inter, RevokedEntry(serial, NOW, RevocationReason.KEY_COMPROMISE), number=42)
    text = openssl_text("crl", write_pem(tmp_path, "crl.pem", crl))
    assert "X509v3 CRL Number: 42" in text
    assert "Issuer: O = ca_core tests, CN = Test Intermediate" in text
    assert "Serial Number: 0A1B2C3D" in text
    assert "X509v3 CRL Reason Code: Key Compromise" in text
    ski = inter.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert f"X509v3 Authority Key Identifier: {ski.hex(':').upper()}" in text
    assert crl.is_signature_valid(inter.signer.public_key)


def test_unspecified_reason_is_omitted_and_others_are_written(inter: CertificateAuthority) -> None:
    entries = [RevokedEntry(i + 1, NOW, reason) for i, reason in enumerate(RevocationReason)]
    crl = crl_of(inter, *entries)
    for entry in entries:
        revoked = crl.get_revoked_certificate_by_serial_number(entry.serial)
        assert revoked is not None and revoked.revocation_date_utc == NOW
        if entry.reason is RevocationReason.UNSPECIFIED:
            assert len(revoked.extensions) == 0
        else:
            reason = revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason
            assert reason is entry.reason.to_x509()


def test_disabled_ca_still_publishes_its_crl(inter: CertificateAuthority, tmp_path: Path) -> None:
    issued = leaf(inter)
    disabled = replace(inter, enabled=False)
    crl = crl_of(disabled, RevokedEntry(issued.serial, NOW, RevocationReason.CESSATION_OF_OPERATION))
    assert "certificate revoked" in verify_with_crl(tmp_path, issued, crl)


def test_crl_update_window_and_number_are_validated(inter: CertificateAuthority) -> None:
    with pytest.raises(InvalidSetting) as caught:
        build_crl(inter, [], number=1, this_update=NOW, next_update=NOW)
    assert caught.value.field == "nextUpdate"
    with pytest.raises(InvalidSetting) as caught:
        build_crl(inter, [], number=-1, this_update=NOW, next_update=NEXT)
    assert caught.value.field == "crlNumber"
    with pytest.raises(InvalidSetting, match="serial"):
        build_crl(
            inter,
            [RevokedEntry(0, NOW, RevocationReason.SUPERSEDED)],
            number=1,
            this_update=NOW,
            next_update=NEXT,
        )


def test_hundred_thousand_entries_build_in_linear_time(inter: CertificateAuthority) -> None:
    """Guards the per-entry loop: a chained add_revoked_certificate would copy the list every time."""
    reasons = list(RevocationReason)
    entries = [RevokedEntry((1 << 127) + i, NOW, reasons[i % len(reasons)]) for i in range(100_000)]
    started = time.perf_counter()
    crl = crl_of(inter, *entries)
    elapsed = time.perf_counter() - started
    assert len(crl) == 100_000
    assert elapsed < 20, f"{elapsed:.1f}s for 100,000 entries"


# --- Revocation reasons ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        (RevocationReason.UNSPECIFIED, 0),
        (RevocationReason.KEY_COMPROMISE, 1),
        (RevocationReason.CA_COMPROMISE, 2),
        (RevocationReason.AFFILIATION_CHANGED, 3),
        (RevocationReason.SUPERSEDED, 4),
        (RevocationReason.CESSATION_OF_OPERATION, 5),
        (RevocationReason.CERTIFICATE_HOLD, 6),
        (RevocationReason.REMOVE_FROM_CRL, 8),
        (RevocationReason.PRIVILEGE_WITHDRAWN, 9),
        (RevocationReason.AA_COMPROMISE, 10),
    ],
)
def test_reason_codes_follow_rfc5280(reason: RevocationReason, code: int) -> None:
    assert reason.code == code
    assert RevocationReason.from_code(code) is reason
    assert reason.value == reason.name


@pytest.mark.parametrize("code", [7, 11, -1])
def test_unknown_reason_code_is_refused(code: int) -> None:
    with pytest.raises(InvalidSetting) as caught:
        RevocationReason.from_code(code)
    assert caught.value.field == "reason"


@pytest.mark.parametrize(
    "text", ["KEY_COMPROMISE", "keyCompromise", "key-compromise", "keycompromise", "Key Compromise", " 1 "]
)
def test_reason_parses_every_common_spelling(text: str) -> None:
    assert RevocationReason.parse(text) is RevocationReason.KEY_COMPROMISE


@pytest.mark.parametrize(
    ("text", "reason"), [("cACompromise", "CA_COMPROMISE"), ("aACompromise", "AA_COMPROMISE")]
)
def test_reason_parses_rfc5280_names(text: str, reason: str) -> None:
    assert RevocationReason.parse(text) is RevocationReason(reason)


def test_unknown_reason_text_is_refused() -> None:
    with pytest.raises(InvalidSetting, match="'stolen' is not a revocation reason"):
        RevocationReason.parse("stolen")
