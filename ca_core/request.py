"""What a certificate is requested for: subject attributes, subject alternative names and a public key.
Built from a CSR (ca_core.csr) or from API input for a managed key; checked by ca_core.policy."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.x509.oid import NameOID

from ca_core.keys import PublicKey
from ca_core.subject import check_attributes

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# The subject attributes the product manages, keyed by their short names (as the policy and API use them).
SUBJECT_ATTRIBUTES: Final = {
    "CN": NameOID.COMMON_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
}


@dataclass(frozen=True)
class Subject:
    common_name: str | None = None
    organization: str | None = None
    organizational_unit: str | None = None
    country: str | None = None
    state: str | None = None
    locality: str | None = None

    def attributes(self) -> dict[str, str]:
        """Short name -> value for every attribute that is set, in X.500 order (C, ST, L, O, OU, CN)."""
        values = {
            "C": self.country,
            "ST": self.state,
            "L": self.locality,
            "O": self.organization,
            "OU": self.organizational_unit,
            "CN": self.common_name,
        }
        return {k: v for k, v in values.items() if v}

    def to_x509_name(self) -> x509.Name:
        """The X.509 name; InvalidSetting ("subject.CN", ...) for what RFC 5280 bounds refuse."""
        attributes = self.attributes()
        check_attributes(attributes)  # the one choke point every edge's subject passes through
        return x509.Name([x509.NameAttribute(SUBJECT_ATTRIBUTES[k], v) for k, v in attributes.items()])

    @classmethod
    def from_x509_name(cls, name: x509.Name) -> Subject:
        def first(short: str) -> str | None:
            found = name.get_attributes_for_oid(SUBJECT_ATTRIBUTES[short])
            value = found[0].value if found else None
            return value if isinstance(value, str) else None

        return cls(
            common_name=first("CN"),
            organization=first("O"),
            organizational_unit=first("OU"),
            country=first("C"),
            state=first("ST"),
            locality=first("L"),
        )


@dataclass(frozen=True)
class SubjectAltNames:
    dns: tuple[str, ...] = ()
    ip: tuple[IPAddress, ...] = ()
    email: tuple[str, ...] = ()
    uri: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.dns or self.ip or self.email or self.uri)

    def to_x509(self) -> list[x509.GeneralName]:
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in self.dns]
        names += [x509.IPAddress(a) for a in self.ip]
        names += [x509.RFC822Name(e) for e in self.email]
        names += [x509.UniformResourceIdentifier(u) for u in self.uri]
        return names

    def all_strings(self) -> list[str]:
        """Every SAN as text, for search indexes and display."""
        return [*self.dns, *(str(a) for a in self.ip), *self.email, *self.uri]


@dataclass(frozen=True)
class CertificateRequest:
    subject: Subject
    sans: SubjectAltNames
    public_key: PublicKey
