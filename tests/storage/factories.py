"""Small builders for storage tests: records with sensible defaults, overridable per test."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from acme_server.storage import CARecord, CertificateRecord, ProfileRecord, Tx

NOW = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


async def make_ca(tx: Tx, name: str = "root", **overrides: Any) -> CARecord:
    values: dict[str, Any] = {
        "name": name,
        "kind": "root",
        "status": "active",
        "certificate_pem": f"-----BEGIN CERTIFICATE-----\n{name}\n-----END CERTIFICATE-----\n",
        "sealed_key": b"sealed:" + name.encode(),
        "key_algorithm": "EC_prime256v1",
        "not_before": NOW,
        "not_after": NOW + timedelta(days=3650),
    }
    values.update(overrides)
    return await tx.cas.create(**values)


async def make_profile(tx: Tx, name: str = "default", **overrides: Any) -> ProfileRecord:
    values: dict[str, Any] = {"name": name, "document": {"validity": "90d", "usages": ["serverAuth"]}}
    values.update(overrides)
    return await tx.profiles.create(**values)


async def make_certificate(tx: Tx, *, ca_id: str | None, **overrides: Any) -> CertificateRecord:
    serial = secrets.token_hex(16)
    values: dict[str, Any] = {
        "ca_id": ca_id,
        "profile_id": None,
        "serial": serial,
        "common_name": "www.example.com",
        "not_before": NOW,
        "not_after": NOW + timedelta(days=90),
        "certificate_pem": f"-----BEGIN CERTIFICATE-----\n{serial}\n-----END CERTIFICATE-----\n",
        "key_algorithm": "EC_prime256v1",
        "fingerprint_sha256": secrets.token_hex(32),
        "san_text": "www.example.com",
    }
    values.update(overrides)
    return await tx.certificates.create(**values)
