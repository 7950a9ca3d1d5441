"""Hand-written doubles for unit tests of one layer (ARCHITECTURE rule 10): a scripted Validator and
a settable Clock, a software token. Integration and protocol tests use the real VA over loopback instead."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

from acme_server.services.ports import ValidationOutcome, ValidationTask
from ca_core.keys import PrivateKey
from ca_core.tokens import Mechanism, digest_info


@dataclass
class ScriptedValidator:
    """Answers each validation from `outcomes` (by identifier; default valid) and records the tasks."""

    outcomes: dict[str, ValidationOutcome] = field(default_factory=dict)
    seen: list[ValidationTask] = field(default_factory=list)

    async def validate(self, task: ValidationTask) -> ValidationOutcome:
        self.seen.append(task)
        return self.outcomes.get(task.identifier_value, ValidationOutcome(valid=True))


@dataclass
class FixedClock:
    current: datetime

    def now(self) -> datetime:
        return self.current


class SoftwareToken:
    """A token for unit tests of ca_core.tokens: a software key answering sign(data, mechanism) as
    PKCS#11 does (ECDSA: r || s over the digest given; RSA_PKCS: PKCS#1 v1.5 over the DigestInfo
    given, which it parses so a malformed one fails). Records each call."""

    def __init__(self, key: PrivateKey) -> None:
        self.key = key
        self.calls: list[tuple[Mechanism, bytes]] = []

    def sign(self, data: bytes, mechanism: Mechanism) -> bytes:
        self.calls.append((mechanism, data))
        if mechanism is Mechanism.ECDSA:
            assert isinstance(self.key, ec.EllipticCurvePrivateKey)
            digest = {32: hashes.SHA256(), 48: hashes.SHA384(), 64: hashes.SHA512()}[len(data)]
            r, s = decode_dss_signature(self.key.sign(data, ec.ECDSA(Prehashed(digest))))
            size = (self.key.curve.key_size + 7) // 8
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        assert isinstance(self.key, rsa.RSAPrivateKey) and mechanism is Mechanism.RSA_PKCS
        algorithm = {51: hashes.SHA256(), 67: hashes.SHA384(), 83: hashes.SHA512()}[len(data)]
        digest = data[-algorithm.digest_size :]
        if digest_info(algorithm, digest) != data:
            raise ValueError("not a DigestInfo")
        return self.key.sign(digest, padding.PKCS1v15(), Prehashed(algorithm))
