"""ca_core.tokens: certificates, CRLs, CSRs and OCSP responses signed through the narrow token Protocol
(a software key standing in for the HSM), checked with cryptography and real openssl."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp

from ca_core.authority import (
    CASettings,
    CertificateAuthority,
    create_intermediate,
    create_intermediate_csr,
    create_root,
)
from ca_core.crl import build_crl
from ca_core.issuance import issue
from ca_core.keys import KeyAlgorithm, generate_key
from ca_core.ocsp import CertID, CertStatus, OCSPQuery, StatusAnswer, build_response, issuer_hashes
from ca_core.request import Subject
from ca_core.revocation import RevocationReason, RevokedEntry
from ca_core.serials import random_serial
from ca_core.tokens import Mechanism, TokenError, TokenSigner, ecdsa_der
from tests.ca_core.helpers import NOW, leaf_request, make_intermediate, openssl, web_profile, write_pem
from tests.fakes import SoftwareToken

ALGORITHMS = [KeyAlgorithm.EC_prime256v1, KeyAlgorithm.EC_secp384r1, KeyAlgorithm.RSA_2048]
DIGEST_INPUT = {  # what crosses to the token: a digest (EC) or a DigestInfo (RSA), never the data
    KeyAlgorithm.EC_prime256v1: (Mechanism.ECDSA, 32),
    KeyAlgorithm.EC_secp384r1: (Mechanism.ECDSA, 48),
    KeyAlgorithm.RSA_2048: (Mechanism.RSA_PKCS, 51),
}


def token_root(algorithm: KeyAlgorithm) -> tuple[CertificateAuthority, SoftwareToken]:
    token = SoftwareToken(generate_key(algorithm))
    signer = TokenSigner(token, token.key.public_key())
    certificate = create_root(
        Subject(common_name=f"Token Root {algorithm}"),
        signer,
        now=NOW,
        validity=timedelta(days=30),
        serial=random_serial(),
        settings=CASettings(),
    )
    return CertificateAuthority("root", certificate, (), signer, CASettings()), token


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_token_root_signs_a_chain_openssl_verifies(algorithm: KeyAlgorithm, tmp_path: Path) -> None:
    root, token = token_root(algorithm)
    root.certificate.verify_directly_issued_by(root.certificate)
    inter = make_intermediate(root)
    inter.certificate.verify_directly_issued_by(root.certificate)
    issued = issue(inter, web_profile(), leaf_request()[0], serial=random_serial(), now=NOW)
    assert [mechanism for mechanism, _ in token.calls] == [DIGEST_INPUT[algorithm][0]] * 2
    assert {len(data) for _, data in token.calls} == {DIGEST_INPUT[algorithm][1]}
    result = openssl(
        "verify",
        "-CAfile", write_pem(tmp_path, "root.pem", root.certificate),
        "-untrusted", write_pem(tmp_path, "inter.pem", inter.certificate),
        write_pem(tmp_path, "leaf.pem", issued.certificate),
    )  # fmt: skip
    assert result.stdout.strip().endswith("leaf.pem: OK")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_token_issued_leaf_and_crl_verify(algorithm: KeyAlgorithm, tmp_path: Path) -> None:
    parent, _ = token_root(KeyAlgorithm.EC_prime256v1)
    token = SoftwareToken(generate_key(algorithm))
    certificate = create_intermediate(
        parent,
        Subject(common_name="Token Intermediate"),
        token.key.public_key(),
        now=NOW,
        validity=timedelta(days=20),
        serial=random_serial(),
        settings=CASettings(),
    )
    signer = TokenSigner(token, token.key.public_key())
    inter = CertificateAuthority("inter", certificate, (parent.certificate,), signer, CASettings())
    issued = issue(inter, web_profile(), leaf_request()[0], serial=random_serial(), now=NOW)
    issued.certificate.verify_directly_issued_by(inter.certificate)
    crl = build_crl(
        inter,
        [RevokedEntry(issued.serial, NOW, RevocationReason.KEY_COMPROMISE)],
        number=7,
        this_update=NOW,
        next_update=NOW + timedelta(hours=1),
    )
    assert crl.is_signature_valid(token.key.public_key())
    crl_path = tmp_path / "crl.pem"
    crl_path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    result = openssl(
        "verify", "-crl_check",
        "-CAfile", write_pem(tmp_path, "chain.pem", parent.certificate, inter.certificate),
        "-CRLfile", crl_path,
        write_pem(tmp_path, "leaf.pem", issued.certificate),
        check=False,
    )  # fmt: skip
    assert "certificate revoked" in result.stdout + result.stderr


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_token_ocsp_response_verifies(algorithm: KeyAlgorithm) -> None:
    root, _ = token_root(algorithm)
    issued = issue(root, web_profile("root"), leaf_request()[0], serial=random_serial(), now=NOW)
    name_hash, key_hash = issuer_hashes(root.certificate, "sha1")
    query = OCSPQuery(CertID("sha1", name_hash, key_hash, issued.serial), nonce=None)
    der = build_response(
        root, query, StatusAnswer(CertStatus.GOOD), this_update=NOW, next_update=NOW + timedelta(hours=1)
    )
    response = ocsp.load_der_ocsp_response(der)
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    public_key = root.certificate.public_key()
    assert response.signature_hash_algorithm is not None
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(
            response.signature, response.tbs_response_bytes, ec.ECDSA(response.signature_hash_algorithm)
        )
    else:
        assert isinstance(public_key, rsa.RSAPublicKey)
        public_key.verify(
            response.signature,
            response.tbs_response_bytes,
            padding.PKCS1v15(),
            response.signature_hash_algorithm,
        )


def test_token_key_signs_an_external_csr() -> None:
    token = SoftwareToken(generate_key(KeyAlgorithm.EC_secp384r1))
    csr = create_intermediate_csr(Subject(common_name="Offline"), TokenSigner(token, token.key.public_key()))
    assert csr.is_signature_valid
    assert isinstance(csr.signature_hash_algorithm, hashes.SHA384)


def test_the_private_key_cannot_be_exported() -> None:
    token = SoftwareToken(generate_key(KeyAlgorithm.EC_prime256v1))
    signer = TokenSigner(token, token.key.public_key())
    with pytest.raises(TokenError, match="cannot be exported"):
        signer.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    assert repr(signer) == "TokenSigner(ECPublicKey)"


def test_a_short_ecdsa_answer_is_refused() -> None:
    with pytest.raises(TokenError, match="63-byte ECDSA signature; secp256r1 needs 64"):
        ecdsa_der(b"\x01" * 63, ec.SECP256R1())


def test_raw_ecdsa_becomes_der_with_minimal_integers() -> None:
    # r with a high bit set gains a 0x00 (DER INTEGER is signed); s with leading zeros loses them.
    raw = b"\x80" + b"\x00" * 31 + b"\x00" * 31 + b"\x05"
    assert ecdsa_der(raw, ec.SECP256R1()) == bytes.fromhex("3026022100" + "80" + "00" * 31 + "020105")


def test_ed25519_token_keys_are_refused() -> None:
    key = generate_key(KeyAlgorithm.ED25519)
    with pytest.raises(TokenError, match="Ed25519PublicKey keys in a token are not supported"):
        TokenSigner(SoftwareToken(key), key.public_key())


def test_a_token_answer_of_the_wrong_size_is_refused() -> None:
    class Truncating(SoftwareToken):
        def sign(self, data: bytes, mechanism: Mechanism) -> bytes:
            return super().sign(data, mechanism)[:-1]

    token = Truncating(generate_key(KeyAlgorithm.RSA_2048))
    signer = TokenSigner(token, token.key.public_key())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "x")])
    with pytest.raises(TokenError, match="255-byte RSA signature for a 2048-bit key"):
        signer.sign_csr(x509.CertificateSigningRequestBuilder().subject_name(name))
