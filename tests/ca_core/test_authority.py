"""Roots, intermediates and the offline-root flow, each chain checked by `openssl verify`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509

from ca_core.authority import (
    CASettings,
    CertificateAuthority,
    check_signed_intermediate,
    create_intermediate_csr,
    create_root,
)
from ca_core.errors import CADisabled, InvalidSetting
from ca_core.issuance import issue
from ca_core.keys import KeyAlgorithm, PrivateKey, generate_key, load_private_key
from ca_core.request import Subject
from ca_core.serials import random_serial
from ca_core.signer import SoftwareSigner
from tests.ca_core.helpers import (
    CRL_URL,
    ISSUER_URL,
    NOW,
    OCSP_URL,
    leaf_request,
    make_intermediate,
    make_root,
    openssl,
    openssl_text,
    pem,
    web_profile,
    write_pem,
    x509_text,
)

CA_ALGORITHMS = [
    KeyAlgorithm.RSA_2048,
    KeyAlgorithm.EC_prime256v1,
    KeyAlgorithm.EC_secp384r1,
    KeyAlgorithm.ED25519,
]
SIGNATURE = {
    KeyAlgorithm.RSA_2048: "sha256WithRSAEncryption",
    KeyAlgorithm.EC_prime256v1: "ecdsa-with-SHA256",
    KeyAlgorithm.EC_secp384r1: "ecdsa-with-SHA384",
    KeyAlgorithm.ED25519: "ED25519",
}


def verify(
    tmp_path: Path, root: x509.Certificate, untrusted: list[x509.Certificate], leaf: x509.Certificate
) -> str:
    args: list[str | Path] = ["verify", "-CAfile", write_pem(tmp_path, "root.pem", root)]
    if untrusted:
        args += ["-untrusted", write_pem(tmp_path, "untrusted.pem", *untrusted)]
    return openssl(*args, write_pem(tmp_path, "leaf.pem", leaf)).stdout


@pytest.mark.parametrize("algorithm", CA_ALGORITHMS)
def test_root_intermediate_leaf_chain_verifies_with_openssl(algorithm: KeyAlgorithm, tmp_path: Path) -> None:
    root = make_root(algorithm)
    inter = make_intermediate(root, algorithm)
    request, _ = leaf_request(KeyAlgorithm.EC_prime256v1)
    leaf = issue(inter, web_profile(), request, serial=random_serial(), now=NOW).certificate
    assert verify(tmp_path, root.certificate, [inter.certificate], leaf).strip().endswith(": OK")
    assert f"Signature Algorithm: {SIGNATURE[algorithm]}" in x509_text(
        write_pem(tmp_path, "i.pem", inter.certificate)
    )


def test_root_is_self_signed_ca_with_critical_constraints_and_key_ids(tmp_path: Path) -> None:
    root = make_root(settings=CASettings(max_path_length=1))
    text = x509_text(write_pem(tmp_path, "root.pem", root.certificate))
    assert "X509v3 Basic Constraints: critical CA:TRUE, pathlen:1" in text
    assert "X509v3 Key Usage: critical Digital Signature, Certificate Sign, CRL Sign" in text
    ski = root.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = root.certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert root.is_root and root.path_length == 1
    assert root.certificate.subject == root.certificate.issuer
    assert "Issuer: O = ca_core tests, CN = Test Root" in text
    openssl("verify", "-CAfile", tmp_path / "root.pem", tmp_path / "root.pem")


def test_root_lifetime_is_now_plus_validity() -> None:
    root = make_root(validity=timedelta(days=100))
    assert root.certificate.not_valid_before_utc == NOW
    assert root.certificate.not_valid_after_utc == NOW + timedelta(days=100)


def test_ca_subject_must_not_be_empty() -> None:
    with pytest.raises(InvalidSetting, match="subject: a CA needs a non-empty subject"):
        create_root(
            Subject(),
            SoftwareSigner(generate_key(KeyAlgorithm.EC_prime256v1)),
            now=NOW,
            validity=timedelta(days=1),
            serial=1,
            settings=CASettings(),
        )


def test_intermediate_carries_the_parents_crl_and_aia_urls(tmp_path: Path) -> None:
    parent_urls = CASettings(crl_url=CRL_URL, ocsp_url=OCSP_URL, issuer_url=ISSUER_URL)
    root = make_root(settings=parent_urls)
    own_urls = CASettings(crl_url="http://other.example/own.crl")
    inter = make_intermediate(root, settings=own_urls)
    text = x509_text(write_pem(tmp_path, "inter.pem", inter.certificate))
    assert f"URI:{CRL_URL}" in text and "own.crl" not in text
    assert f"OCSP - URI:{OCSP_URL}" in text
    assert f"CA Issuers - URI:{ISSUER_URL}" in text
    root_ski = root.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = inter.certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == root_ski.digest
    assert not inter.is_root
    assert inter.chain_pem() == pem(inter.certificate, root.certificate).decode()


def test_intermediate_not_after_is_clipped_to_the_parents() -> None:
    root = make_root(validity=timedelta(days=30))
    inter = make_intermediate(root, validity=timedelta(days=365))
    assert inter.certificate.not_valid_after_utc == root.certificate.not_valid_after_utc


def test_intermediate_needs_a_subject_other_than_its_parents() -> None:
    root = make_root()
    with pytest.raises(InvalidSetting, match="subject: must differ"):
        make_intermediate(root, name="Test Root")


def test_unconstrained_parent_passes_the_requested_path_length_through() -> None:
    root = make_root()
    inter = make_intermediate(root, settings=CASettings(max_path_length=3))
    assert inter.path_length == 3
    assert make_intermediate(root).path_length is None


def test_child_of_a_constrained_parent_defaults_to_one_less() -> None:
    root = make_root(settings=CASettings(max_path_length=2))
    assert make_intermediate(root).path_length == 1


def test_child_path_length_must_be_below_the_parents() -> None:
    root = make_root(settings=CASettings(max_path_length=1))
    with pytest.raises(InvalidSetting) as caught:
        make_intermediate(root, settings=CASettings(max_path_length=1))
    assert caught.value.field == "maxPathLength"
    assert caught.value.detail == "maxPathLength: must be less than 1, the path length of CA Test Root"


def test_parent_with_path_length_zero_cannot_sign_a_ca(tmp_path: Path) -> None:
    root = make_root(settings=CASettings(max_path_length=0))
    with pytest.raises(InvalidSetting, match="CA Test Root has path length 0 and cannot sign another CA"):
        make_intermediate(root)


def test_pathlen_one_root_allows_one_intermediate_and_no_ca_below_it() -> None:
    root = make_root(settings=CASettings(max_path_length=1))
    inter = make_intermediate(root)
    assert inter.path_length == 0
    with pytest.raises(InvalidSetting, match="path length 0"):
        make_intermediate(inter, name="Too Deep")


def test_disabled_ca_signs_no_intermediate() -> None:
    root = make_root(enabled=False)
    with pytest.raises(CADisabled) as caught:
        make_intermediate(root)
    assert caught.value.detail == "CA Test Root is disabled"


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"crl_url": "ftp://pki.example/x.crl"}, "crlUrl"),
        ({"ocsp_url": "not a url"}, "ocspUrl"),
        ({"issuer_url": "https://"}, "issuerUrl"),
        ({"max_path_length": -1}, "maxPathLength"),
    ],
)
def test_ca_settings_are_validated(settings: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidSetting) as caught:
        CASettings(**settings)  # type: ignore[arg-type]
    assert caught.value.field == field


# --- The offline root: our CSR, signed by a root the openssl CLI created -------------------------

CA_EXTENSIONS = """basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
"""


def offline_root(tmp_path: Path, name: str = "Offline Root") -> tuple[Path, Path]:
    key, cert = tmp_path / f"{name}.key", tmp_path / f"{name}.pem"
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", key, "-out", cert, "-subj", f"/CN={name}", "-days", "3650",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return cert, key


def openssl_sign(
    tmp_path: Path, csr: Path, issuer: tuple[Path, Path], extensions: str, out: str, *extra: str
) -> Path:
    extfile = tmp_path / f"{out}.ext"
    extfile.write_text(extensions)
    path = tmp_path / out
    openssl(
        "x509", "-req", "-in", csr, "-CA", issuer[0], "-CAkey", issuer[1],
        "-set_serial", str(random_serial()), "-days", "1000", "-extfile", extfile, "-out", path, *extra,
    )  # fmt: skip
    return path


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def our_csr(tmp_path: Path, name: str = "External Intermediate") -> tuple[Path, PrivateKey]:
    key = generate_key(KeyAlgorithm.EC_prime256v1)
    csr = create_intermediate_csr(Subject(common_name=name), SoftwareSigner(key))
    return write_pem(tmp_path, f"{name}.csr", csr), key


def test_intermediate_csr_asks_for_a_ca_certificate(tmp_path: Path) -> None:
    csr, _ = our_csr(tmp_path)
    openssl("req", "-in", csr, "-noout", "-verify")
    text = openssl_text("req", csr)
    assert "Requested Extensions: X509v3 Basic Constraints: critical CA:TRUE" in text
    assert "Certificate Sign, CRL Sign" in text


def test_certificate_signed_by_an_offline_root_is_accepted_and_can_issue(tmp_path: Path) -> None:
    root = offline_root(tmp_path)
    csr, key = our_csr(tmp_path)
    signed = load(openssl_sign(tmp_path, csr, root, CA_EXTENSIONS, "inter.pem"))
    chain = check_signed_intermediate(signed, [load(root[0])], key.public_key())
    assert chain == (load(root[0]),)
    ca = CertificateAuthority("ext", signed, chain, SoftwareSigner(key), CASettings(crl_url=CRL_URL))
    request, _ = leaf_request()
    leaf = issue(ca, web_profile("ext"), request, serial=random_serial(), now=NOW).certificate
    assert verify(tmp_path, chain[-1], [signed], leaf).strip().endswith(": OK")


def test_chain_given_root_first_is_reordered(tmp_path: Path) -> None:
    root = offline_root(tmp_path)
    middle_csr = tmp_path / "middle.csr"
    openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", tmp_path / "middle.key", "-out", middle_csr, "-subj", "/CN=Offline Middle",
    )  # fmt: skip
    middle = (openssl_sign(tmp_path, middle_csr, root, CA_EXTENSIONS, "middle.pem"), tmp_path / "middle.key")
    csr, key = our_csr(tmp_path)
    signed = load(openssl_sign(tmp_path, csr, middle, CA_EXTENSIONS, "inter.pem"))
    chain = check_signed_intermediate(signed, [load(root[0]), load(middle[0])], key.public_key())
    assert [c.subject.rfc4514_string() for c in chain] == ["CN=Offline Middle", "CN=Offline Root"]
    with pytest.raises(InvalidSetting) as caught:  # the root is missing: the chain does not end
        check_signed_intermediate(signed, [load(middle[0])], key.public_key())
    assert caught.value.field == "chain"
    assert "no certificate in the chain issued CN=Offline Middle" in caught.value.detail


def test_certificate_for_another_key_is_refused(tmp_path: Path) -> None:
    root = offline_root(tmp_path)
    csr, _ = our_csr(tmp_path)
    signed = load(openssl_sign(tmp_path, csr, root, CA_EXTENSIONS, "inter.pem"))
    other = generate_key(KeyAlgorithm.EC_prime256v1)
    with pytest.raises(InvalidSetting) as caught:
        check_signed_intermediate(signed, [load(root[0])], other.public_key())
    assert caught.value.detail == "certificate: it certifies a different key than this CA's CSR"


def test_certificate_without_ca_basic_constraints_is_refused(tmp_path: Path) -> None:
    root = offline_root(tmp_path)
    csr, key = our_csr(tmp_path)
    leaf_like = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
    signed = load(openssl_sign(tmp_path, csr, root, leaf_like, "inter.pem"))
    with pytest.raises(InvalidSetting, match="certificate: not a CA certificate"):
        check_signed_intermediate(signed, [load(root[0])], key.public_key())


def test_ca_certificate_without_cert_sign_usage_is_refused(tmp_path: Path) -> None:
    root = offline_root(tmp_path)
    csr, key = our_csr(tmp_path)
    no_cert_sign = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,cRLSign\n"
    signed = load(openssl_sign(tmp_path, csr, root, no_cert_sign, "inter.pem"))
    with pytest.raises(InvalidSetting, match="certificate: not a CA certificate"):
        check_signed_intermediate(signed, [load(root[0])], key.public_key())


def test_chain_of_another_root_is_refused(tmp_path: Path) -> None:
    root = offline_root(tmp_path)
    stranger = offline_root(tmp_path, "Stranger Root")
    csr, key = our_csr(tmp_path)
    signed = load(openssl_sign(tmp_path, csr, root, CA_EXTENSIONS, "inter.pem"))
    with pytest.raises(InvalidSetting) as caught:
        check_signed_intermediate(signed, [load(stranger[0])], key.public_key())
    assert caught.value.field == "certificate"
    assert "does not verify with any certificate of the chain (CN=Offline Root)" in caught.value.detail


def test_chain_with_a_same_named_impostor_root_is_refused(tmp_path: Path) -> None:
    """Matching names are not enough: the signature must verify."""
    root = offline_root(tmp_path)
    (tmp_path / "impostor").mkdir()
    impostor = offline_root(tmp_path / "impostor")  # also CN=Offline Root, another key
    csr, key = our_csr(tmp_path)
    signed = load(openssl_sign(tmp_path, csr, root, CA_EXTENSIONS, "inter.pem"))
    with pytest.raises(InvalidSetting, match="certificate: its signature does not verify"):
        check_signed_intermediate(signed, [load(impostor[0])], key.public_key())


def test_empty_chain_is_refused(tmp_path: Path) -> None:
    root = offline_root(tmp_path)
    csr, key = our_csr(tmp_path)
    signed = load(openssl_sign(tmp_path, csr, root, CA_EXTENSIONS, "inter.pem"))
    with pytest.raises(InvalidSetting) as caught:
        check_signed_intermediate(signed, [], key.public_key())
    assert caught.value.field == "chain"


def test_self_signed_certificate_is_not_an_intermediate(tmp_path: Path) -> None:
    cert, key_path = offline_root(tmp_path)
    key = load_private_key(key_path.read_bytes())
    with pytest.raises(InvalidSetting, match="self-signed"):
        check_signed_intermediate(load(cert), [load(cert)], key.public_key())


def test_certificate_signed_with_sha1_is_refused_by_name(tmp_path: Path) -> None:
    root = offline_root(tmp_path)
    csr, key = our_csr(tmp_path)
    signed = load(openssl_sign(tmp_path, csr, root, CA_EXTENSIONS, "inter.pem", "-sha1"))
    with pytest.raises(InvalidSetting) as caught:
        check_signed_intermediate(signed, [load(root[0])], key.public_key())
    assert (
        caught.value.detail
        == "certificate: CN=External Intermediate is signed with SHA-1, which is not accepted"
    )
