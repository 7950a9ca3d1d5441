"""Subject attribute rules (ca_core.subject): RFC 5280 upper bounds and two-letter countries, refused
naming the field before cryptography would raise a bare ValueError."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from ca_core.csr import parse_csr
from ca_core.errors import BadCSR, InvalidSetting
from ca_core.request import Subject
from ca_core.subject import UPPER_BOUNDS, check_attribute, check_attributes


@pytest.mark.parametrize(("short", "bound"), sorted(UPPER_BOUNDS.items()))
def test_each_attribute_is_accepted_up_to_its_rfc5280_bound(short: str, bound: int) -> None:
    check_attribute(short, "é" * bound, field="f")
    with pytest.raises(InvalidSetting) as caught:
        check_attribute(short, "é" * (bound + 1), field="f")
    assert caught.value.detail == f"f: must be at most {bound} characters (RFC 5280), got {bound + 1}"


@pytest.mark.parametrize("country", ["ü1", "D", "DEU", "1A", "D ", "Ω1"])
def test_country_must_be_two_ascii_letters(country: str) -> None:
    with pytest.raises(InvalidSetting) as caught:
        check_attribute("C", country, field="country")
    assert caught.value.field == "country"


@pytest.mark.parametrize("country", ["DE", "us"])
def test_two_letter_countries_pass(country: str) -> None:
    check_attribute("C", country, field="country")


def test_fields_name_the_callers_input_or_default_to_subject_short_name() -> None:
    with pytest.raises(InvalidSetting) as caught:
        check_attributes({"CN": "a" * 65}, {"CN": "managed.commonName"})
    assert caught.value.field == "managed.commonName"
    with pytest.raises(InvalidSetting) as caught:
        check_attributes({"L": "a" * 129})
    assert caught.value.field == "subject.L"


def test_api_500s_subject_to_x509_name_refuses_with_invalid_setting_not_value_error() -> None:
    with pytest.raises(InvalidSetting) as caught:
        Subject(common_name="a" * 65).to_x509_name()
    assert caught.value.field == "subject.CN"
    assert Subject(common_name="a" * 64, country="DE").to_x509_name().rfc4514_string().startswith("CN=")


@pytest.mark.filterwarnings("ignore:Attribute's length:UserWarning")  # cryptography's own warning
def test_api_500s_csr_with_a_subject_past_its_bound_is_a_bad_csr() -> None:
    # openssl req refuses to write such a CSR; a hostile ACME client need not use it.
    long_cn = x509.NameAttribute(NameOID.COMMON_NAME, "a" * 65, _validate=False)
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder().subject_name(x509.Name([long_cn])).sign(key, hashes.SHA256())
    )
    with pytest.raises(BadCSR) as caught:
        parse_csr(csr.public_bytes(Encoding.PEM))
    assert caught.value.detail == "CSR subject.CN: must be at most 64 characters (RFC 5280), got 65"
