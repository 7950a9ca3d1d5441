"""OCSP (RFC 6960): requests made by openssl are parsed, and the responses we sign are accepted by
`openssl ocsp` — good, revoked with time and reason, unknown — for SHA-1 and SHA-256 CertIDs, signed
by the CA or a delegated responder, with the nonce echoed."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from ca_core.authority import CertificateAuthority
from ca_core.errors import CADisabled
from ca_core.issuance import IssuedCertificate, issue
from ca_core.keys import KeyAlgorithm, generate_key
from ca_core.ocsp import (
    CertStatus,
    ErrorStatus,
    MalformedOCSPRequest,
    Responder,
    StatusAnswer,
    build_response,
    create_responder_certificate,
    decode_get_path,
    error_response,
    parse_request,
)
from ca_core.revocation import RevocationReason
from ca_core.serials import random_serial
from ca_core.signer import SoftwareSigner
from tests.ca_core.helpers import (
    NOW,
    leaf_request,
    make_intermediate,
    make_root,
    openssl,
    web_profile,
    write_pem,
)

NEXT = NOW + timedelta(hours=1)


@pytest.fixture(scope="module")
def root() -> CertificateAuthority:
    return make_root()


@pytest.fixture(scope="module", params=[KeyAlgorithm.EC_prime256v1, KeyAlgorithm.RSA_2048])
def inter(request: pytest.FixtureRequest, root: CertificateAuthority) -> CertificateAuthority:
    return make_intermediate(root, request.param)


def leaf(ca: CertificateAuthority) -> IssuedCertificate:
    return issue(ca, web_profile(ca.id), leaf_request()[0], serial=random_serial(), now=NOW)


def openssl_request(
    tmp_path: Path, ca: CertificateAuthority, issued: IssuedCertificate, *extra: str
) -> bytes:
    """The DER request `openssl ocsp` sends (with a nonce, as it does by default)."""
    out = tmp_path / "req.der"
    openssl(
        "ocsp", *extra,
        "-issuer", write_pem(tmp_path, "issuer.pem", ca.certificate),
        "-cert", write_pem(tmp_path, "cert.pem", issued.certificate),
        "-reqout", out,
    )  # fmt: skip
    return out.read_bytes()


def openssl_check(tmp_path: Path, ca: CertificateAuthority, response: bytes, *extra: str) -> str:
    """What `openssl ocsp -respin` says about the response, verifying it against the root."""
    path = tmp_path / "resp.der"
    path.write_bytes(response)
    result = openssl(
        "ocsp", "-respin", path, *extra,
        "-issuer", write_pem(tmp_path, "issuer.pem", ca.certificate),
        "-cert", tmp_path / "cert.pem",
        "-CAfile", write_pem(tmp_path, "root.pem", *ca.chain),
        "-no_nonce",  # with -cert openssl makes a new request, whose nonce no response can echo
        check=False,
    )  # fmt: skip
    return result.stdout + result.stderr


def test_good_answer_verifies_and_echoes_the_nonce(inter: CertificateAuthority, tmp_path: Path) -> None:
    issued = leaf(inter)
    query = parse_request(openssl_request(tmp_path, inter, issued))
    assert query.cert_id.hash_name == "sha1" and query.cert_id.serial == issued.serial
    assert query.nonce is not None
    assert query.cert_id.matches(inter.certificate)
    response = build_response(inter, query, StatusAnswer(CertStatus.GOOD), this_update=NOW, next_update=NEXT)
    output = openssl_check(tmp_path, inter, response)
    assert "Response verify OK" in output
    assert "cert.pem: good" in output
    # Given the request it sent, openssl checks the response echoes its nonce (fails otherwise).
    (tmp_path / "resp.der").write_bytes(response)
    echoed = openssl(
        "ocsp", "-reqin", tmp_path / "req.der", "-respin", tmp_path / "resp.der",
        "-CAfile", tmp_path / "root.pem", "-verify_other", tmp_path / "issuer.pem",
    )  # fmt: skip
    assert "nonce" not in (echoed.stdout + echoed.stderr).lower()
    parsed = ocsp.load_der_ocsp_response(response)
    assert parsed.extensions.get_extension_for_class(x509.OCSPNonce).value == query.nonce


def test_revoked_answer_carries_time_and_reason(inter: CertificateAuthority, tmp_path: Path) -> None:
    issued = leaf(inter)
    query = parse_request(openssl_request(tmp_path, inter, issued))
    answer = StatusAnswer(CertStatus.REVOKED, NOW, RevocationReason.KEY_COMPROMISE)
    response = build_response(inter, query, answer, this_update=NOW, next_update=NEXT)
    output = openssl_check(tmp_path, inter, response)
    assert "cert.pem: revoked" in output
    assert "Reason: keyCompromise" in output
    assert f"Revocation Time: {NOW.strftime('%b %e %H:%M:%S %Y')} GMT" in output


def test_unspecified_reason_is_left_out(inter: CertificateAuthority, tmp_path: Path) -> None:
    issued = leaf(inter)
    query = parse_request(openssl_request(tmp_path, inter, issued))
    answer = StatusAnswer(CertStatus.REVOKED, NOW, RevocationReason.UNSPECIFIED)
    parsed = ocsp.load_der_ocsp_response(
        build_response(inter, query, answer, this_update=NOW, next_update=NEXT)
    )
    assert parsed.certificate_status is ocsp.OCSPCertStatus.REVOKED and parsed.revocation_reason is None


def test_unknown_answer_for_a_serial_we_never_issued(inter: CertificateAuthority, tmp_path: Path) -> None:
    issued = leaf(inter)
    query = parse_request(openssl_request(tmp_path, inter, issued))
    response = build_response(
        inter, query, StatusAnswer(CertStatus.UNKNOWN), this_update=NOW, next_update=NEXT
    )
    assert "cert.pem: unknown" in openssl_check(tmp_path, inter, response)


def test_sha256_cert_ids_are_answered_in_kind(inter: CertificateAuthority, tmp_path: Path) -> None:
    issued = leaf(inter)
    query = parse_request(openssl_request(tmp_path, inter, issued, "-sha256"))
    assert query.cert_id.hash_name == "sha256" and len(query.cert_id.issuer_key_hash) == 32
    assert query.cert_id.matches(inter.certificate)
    response = build_response(inter, query, StatusAnswer(CertStatus.GOOD), this_update=NOW, next_update=NEXT)
    parsed = ocsp.load_der_ocsp_response(response)
    assert isinstance(parsed.hash_algorithm, hashes.SHA256)
    assert "cert.pem: good" in openssl_check(tmp_path, inter, response, "-sha256")


def test_another_issuer_does_not_match(root: CertificateAuthority, tmp_path: Path) -> None:
    one, other = make_intermediate(root, ca_id="one"), make_intermediate(root, name="Other", ca_id="other")
    query = parse_request(openssl_request(tmp_path, one, leaf(one)))
    assert not query.cert_id.matches(other.certificate) and not query.cert_id.matches(root.certificate)
    assert query.cert_id.matches(one.certificate)


def test_delegated_responder_signs_and_openssl_accepts_it(
    inter: CertificateAuthority, tmp_path: Path
) -> None:
    key = generate_key(KeyAlgorithm.EC_prime256v1)
    certificate = create_responder_certificate(
        inter, key.public_key(), now=NOW, validity=timedelta(days=7), serial=random_serial()
    )
    usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.OCSP_SIGNING]
    assert certificate.extensions.get_extension_for_class(x509.OCSPNoCheck)
    assert certificate.issuer == inter.certificate.subject
    issued = leaf(inter)
    query = parse_request(openssl_request(tmp_path, inter, issued))
    response = build_response(
        inter,
        query,
        StatusAnswer(CertStatus.GOOD),
        this_update=NOW,
        next_update=NEXT,
        responder=Responder(SoftwareSigner(key), certificate),
    )
    parsed = ocsp.load_der_ocsp_response(response)
    assert parsed.certificates == [certificate]
    assert parsed.responder_key_hash == x509.SubjectKeyIdentifier.from_public_key(key.public_key()).digest
    output = openssl_check(
        tmp_path, inter, response, "-verify_other", write_pem(tmp_path, "i.pem", inter.certificate)
    )
    assert "Response verify OK" in output and "cert.pem: good" in output


def test_a_disabled_ca_signs_no_responder_certificate(root: CertificateAuthority) -> None:
    disabled = make_intermediate(root, enabled=False)
    with pytest.raises(CADisabled):
        create_responder_certificate(
            disabled, generate_key(KeyAlgorithm.EC_prime256v1).public_key(),
            now=NOW, validity=timedelta(days=1), serial=random_serial(),
        )  # fmt: skip


def test_get_paths_decode_in_every_base64_spelling(inter: CertificateAuthority, tmp_path: Path) -> None:
    der = openssl_request(tmp_path, inter, leaf(inter))
    standard = base64.b64encode(der).decode()
    for path in (standard, quote(standard, safe=""), base64.urlsafe_b64encode(der).decode().rstrip("=")):
        assert decode_get_path(path) == der
    with pytest.raises(MalformedOCSPRequest):
        decode_get_path("not*base64")


@pytest.mark.parametrize("body", [b"", b"\x30\x03\x02\x01\x01", b"x" * 9000])
def test_malformed_requests_are_refused(body: bytes) -> None:
    with pytest.raises(MalformedOCSPRequest):
        parse_request(body)


def test_error_responses_carry_only_the_status() -> None:
    parsed = ocsp.load_der_ocsp_response(error_response(ErrorStatus.UNAUTHORIZED))
    assert parsed.response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED
    malformed = ocsp.load_der_ocsp_response(error_response(ErrorStatus.MALFORMED_REQUEST))
    assert malformed.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_get_paths_keep_base64_slashes_at_either_end() -> None:
    assert decode_get_path("MA//") == base64.b64decode("MA//")
    assert decode_get_path(quote("MA//", safe="")) == b"0\x0f\xff"
