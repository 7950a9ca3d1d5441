"""The SA (storage authority): the only code that knows SQL. `Storage.open(url)` migrates and hands out
transactions whose repositories return frozen records, never rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from acme_server.storage import migrate
from acme_server.storage.accounts import AccountRecord, AccountRepository
from acme_server.storage.authorizations import (
    AuthorizationRecord,
    AuthorizationRepository,
    ChallengeRecord,
    ChallengeRepository,
    NewAuthorization,
)
from acme_server.storage.cas import CARecord, CARepository
from acme_server.storage.certificates import CertificateFilter, CertificateRecord, CertificateRepository
from acme_server.storage.config import ConfigGenerationRepository
from acme_server.storage.crls import CRLRecord, CRLRepository
from acme_server.storage.cross import CrossCertificateRecord, CrossCertificateRepository
from acme_server.storage.eab import EABKeyRecord, EABRepository
from acme_server.storage.engine import READ_ONLY, create_engine, normalize_url
from acme_server.storage.integrity import as_conflict
from acme_server.storage.leases import LeaseRepository
from acme_server.storage.nonces import NonceRepository
from acme_server.storage.orders import OrderRecord, OrderRepository
from acme_server.storage.policies import PolicyRecord, PolicyRepository
from acme_server.storage.profiles import ProfileRecord, ProfileRepository
from acme_server.storage.renewals import (
    DueCertificate,
    RenewalAttemptRecord,
    RenewalRepository,
    RenewalStateRecord,
)
from acme_server.storage.requests import (
    CertificateRequestFilter,
    CertificateRequestRecord,
    CertificateRequestRepository,
)
from acme_server.storage.revocations import RevocationRecord, RevocationRepository
from acme_server.storage.syncs import SyncRecord, SyncRepository
from acme_server.storage.tokens import TokenRecord, TokenRepository

__all__ = [
    "AccountRecord",
    "AuthorizationRecord",
    "CARecord",
    "CRLRecord",
    "CertificateFilter",
    "CertificateRecord",
    "CertificateRequestFilter",
    "CertificateRequestRecord",
    "ChallengeRecord",
    "CrossCertificateRecord",
    "DueCertificate",
    "EABKeyRecord",
    "NewAuthorization",
    "OrderRecord",
    "PolicyRecord",
    "ProfileRecord",
    "RenewalAttemptRecord",
    "RenewalStateRecord",
    "RevocationRecord",
    "Storage",
    "SyncRecord",
    "TokenRecord",
    "Tx",
    "normalize_url",
]


class Tx:
    """The repositories of one transaction, all over the same connection."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.config = ConfigGenerationRepository(connection)
        self.cas = CARepository(connection)
        self.policies = PolicyRepository(connection)
        self.profiles = ProfileRepository(connection)
        self.certificates = CertificateRepository(connection)
        self.revocations = RevocationRepository(connection)
        self.requests = CertificateRequestRepository(connection)
        self.crls = CRLRepository(connection)
        self.cross_certificates = CrossCertificateRepository(connection)
        self.tokens = TokenRepository(connection)
        self.leases = LeaseRepository(connection)
        self.renewals = RenewalRepository(connection)
        self.syncs = SyncRepository(connection)
        self.accounts = AccountRepository(connection)
        self.eab = EABRepository(connection)
        self.nonces = NonceRepository(connection)
        self.orders = OrderRepository(connection)
        self.authorizations = AuthorizationRepository(connection)
        self.challenges = ChallengeRepository(connection)


class Storage:
    """One engine (connection pool) per process; open once, close on shutdown."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        if engine.dialect.name == "postgresql":
            # One snapshot for every read in the block, as SQLite's deferred transaction gives.
            self._read_options: dict[str, Any] = {
                "postgresql_readonly": True,
                "isolation_level": "REPEATABLE READ",
            }
        else:
            self._read_options = {READ_ONLY: True}

    @classmethod
    async def open(cls, url: str) -> Storage:
        """Connect and upgrade the schema to head (safe when several processes open at once).
        `url`: sqlite:///path, a plain path, or postgresql://...; anything else is a ConfigError."""
        engine = create_engine(url)
        migrated = False
        try:
            await migrate.upgrade(engine)
            migrated = True
        finally:
            if not migrated:
                await engine.dispose()
        return cls(engine)

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self._engine.dialect.name

    async def close(self) -> None:
        await self._engine.dispose()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """One read-write transaction: committed when the block ends, rolled back when it raises.
        On SQLite it starts with BEGIN IMMEDIATE, so writers queue instead of failing."""
        async with self._engine.connect() as connection:
            try:
                async with connection.begin():
                    yield Tx(connection)
            except IntegrityError as error:  # raised by COMMIT itself (deferred constraints)
                conflict = as_conflict(error, {})
                if conflict is None:
                    raise
                raise conflict from error

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        """One read-only transaction over a consistent snapshot; a write inside it fails."""
        async with self._engine.connect() as connection:
            await connection.execution_options(**self._read_options)
            async with connection.begin():
                yield Tx(connection)
