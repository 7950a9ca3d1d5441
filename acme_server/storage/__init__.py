"""The SA (storage authority): the only code that knows SQL. `Storage.open(url)` migrates and hands out
transactions whose repositories return frozen records, never rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import QueuePool

from acme_server.errors import Unavailable
from acme_server.storage import migrate as migrations
from acme_server.storage.accounts import AccountRecord, AccountRepository
from acme_server.storage.audit import AuditFilter, AuditRecord, AuditRepository
from acme_server.storage.authorizations import (
    AuthorizationRecord,
    AuthorizationRepository,
    ChallengeRecord,
    ChallengeRepository,
    NewAuthorization,
)
from acme_server.storage.base import DriverConnection, LoopConnection
from acme_server.storage.cas import CARecord, CARepository
from acme_server.storage.certificates import (
    CertificateFilter,
    CertificateRecord,
    CertificateRepository,
    ExpiringCount,
)
from acme_server.storage.config import ConfigGenerationRepository
from acme_server.storage.crls import CRLRecord, CRLRepository
from acme_server.storage.cross import CrossCertificateRecord, CrossCertificateRepository
from acme_server.storage.driver_pool import DriverPool
from acme_server.storage.eab import EABBindingRecord, EABKeyRecord, EABRepository
from acme_server.storage.engine import (
    DEFAULT_BUSY_TIMEOUT,
    create_engine,
    create_sqlite_loop_engine,
    normalize_url,
)
from acme_server.storage.group_commit import GroupCommitWriter
from acme_server.storage.integrity import as_conflict
from acme_server.storage.kept_connections import KeptConnections
from acme_server.storage.leases import LeaseRepository
from acme_server.storage.nonce_store import NonceStore, PostgresNonceStore, Redeemed, SqliteNonceStore
from acme_server.storage.orders import OrderRecord, OrderRepository
from acme_server.storage.policies import PolicyRecord, PolicyRepository
from acme_server.storage.profiles import ProfileRecord, ProfileRepository
from acme_server.storage.rate_counters import PostgresRateCounters, RateCounterStore, SqliteRateCounters
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
from acme_server.storage.rotations import RotationCounts, RotationRecord, RotationRepository
from acme_server.storage.syncs import SyncRecord, SyncRepository
from acme_server.storage.tokens import TokenRecord, TokenRepository
from acme_server.storage.ui_sessions import UISessionRecord, UISessionRepository

__all__ = [
    "AccountRecord",
    "AuditFilter",
    "AuditRecord",
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
    "EABBindingRecord",
    "EABKeyRecord",
    "ExpiringCount",
    "NewAuthorization",
    "NonceStore",
    "OrderRecord",
    "PolicyRecord",
    "PoolUsage",
    "ProfileRecord",
    "RateCounterStore",
    "Redeemed",
    "RenewalAttemptRecord",
    "RenewalStateRecord",
    "RevocationRecord",
    "RotationCounts",
    "RotationRecord",
    "Storage",
    "SyncRecord",
    "TokenRecord",
    "Tx",
    "UISessionRecord",
    "normalize_url",
]


class Tx:
    """The repositories of one transaction, all over the same connection. Each is made when first
    used (a request touches two or three of them)."""

    def __init__(self, connection: AsyncConnection | LoopConnection | DriverConnection) -> None:
        self._connection = connection

    @cached_property
    def config(self) -> ConfigGenerationRepository:
        return ConfigGenerationRepository(self._connection)

    @cached_property
    def cas(self) -> CARepository:
        return CARepository(self._connection)

    @cached_property
    def policies(self) -> PolicyRepository:
        return PolicyRepository(self._connection)

    @cached_property
    def profiles(self) -> ProfileRepository:
        return ProfileRepository(self._connection)

    @cached_property
    def certificates(self) -> CertificateRepository:
        return CertificateRepository(self._connection)

    @cached_property
    def revocations(self) -> RevocationRepository:
        return RevocationRepository(self._connection)

    @cached_property
    def requests(self) -> CertificateRequestRepository:
        return CertificateRequestRepository(self._connection)

    @cached_property
    def crls(self) -> CRLRepository:
        return CRLRepository(self._connection)

    @cached_property
    def cross_certificates(self) -> CrossCertificateRepository:
        return CrossCertificateRepository(self._connection)

    @cached_property
    def rotations(self) -> RotationRepository:
        return RotationRepository(self._connection)

    @cached_property
    def tokens(self) -> TokenRepository:
        return TokenRepository(self._connection)

    @cached_property
    def ui_sessions(self) -> UISessionRepository:
        return UISessionRepository(self._connection)

    @cached_property
    def leases(self) -> LeaseRepository:
        return LeaseRepository(self._connection)

    @cached_property
    def renewals(self) -> RenewalRepository:
        return RenewalRepository(self._connection)

    @cached_property
    def syncs(self) -> SyncRepository:
        return SyncRepository(self._connection)

    @cached_property
    def accounts(self) -> AccountRepository:
        return AccountRepository(self._connection)

    @cached_property
    def eab(self) -> EABRepository:
        return EABRepository(self._connection)

    @cached_property
    def orders(self) -> OrderRepository:
        return OrderRepository(self._connection)

    @cached_property
    def authorizations(self) -> AuthorizationRepository:
        return AuthorizationRepository(self._connection)

    @cached_property
    def challenges(self) -> ChallengeRepository:
        return ChallengeRepository(self._connection)

    @cached_property
    def audit(self) -> AuditRepository:
        return AuditRepository(self._connection)


@dataclass(frozen=True)
class PoolUsage:
    pool: str  # "write" or "read"
    in_use: int
    idle: int
    size: int


class Storage:
    """Two engines (connection pools) per process, one for transaction() and one for read(); open
    once, close on shutdown."""

    def __init__(self, engine: AsyncEngine, read_engine: AsyncEngine, *, busy_timeout: float) -> None:
        self._engine = engine
        self._read_engine = read_engine
        # SQLite: read() and transaction() run on the event loop's thread
        # (engine.create_sqlite_loop_engine); the aiosqlite engine only migrates.
        self._busy_timeout = busy_timeout
        self._loop_reader: Engine | None = None
        self._loop_writer: Engine | None = None
        self._group_writer: GroupCommitWriter | None = None
        self._idle_readers: list[Connection] = []
        # PostgreSQL: connections kept between transactions, which run on asyncpg
        # (storage/kept_connections.py).
        self._kept_writers = KeptConnections(engine, keep=_KEPT_PG, isolation=None, readonly=False)
        self._kept_readers = KeptConnections(
            read_engine, keep=_KEPT_PG, isolation="repeatable_read", readonly=True
        )
        if engine.dialect.name == "sqlite":
            url = engine.url.render_as_string(hide_password=False)
            self._loop_reader = create_sqlite_loop_engine(url, read_only=True, busy_timeout=busy_timeout)
            self._loop_writer = create_sqlite_loop_engine(url, read_only=False, busy_timeout=busy_timeout)
            # Writers of this process share COMMITs (storage/group_commit.py) and queue on its lock
            # instead of in SQLite's busy handler; other processes (workers, CLI) meet at BEGIN
            # IMMEDIATE.
            self._group_writer = GroupCommitWriter(self._loop_writer, busy_timeout=busy_timeout)
        # Used ACME nonces live where a write costs no fsync (storage/nonce_store.py).
        self.nonces: NonceStore
        self._driver_pool: DriverPool | None = None
        if engine.dialect.name == "sqlite":
            nonces = SqliteNonceStore.beside(engine.url.database or "", busy_timeout=busy_timeout)
            self.nonces = nonces
            # Rate-limit counters share the used nonces' file and its terms (storage/rate_counters.py).
            self.rate_counters: RateCounterStore = SqliteRateCounters(nonces.path, busy_timeout=busy_timeout)
        else:
            # ... on asyncpg's own pool: one plain statement each, no SQLAlchemy (storage/driver_pool.py).
            self._driver_pool = DriverPool(engine.url)
            self.nonces = PostgresNonceStore(self._driver_pool)
            self.rate_counters = PostgresRateCounters(self._driver_pool)

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        migrate: bool = True,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        status_url: str | None = None,
    ) -> Storage:
        """Connect and upgrade the schema to head (safe when several processes open at once); with
        migrate=False (a read-only process) only check that it is at head.
        `url`: sqlite:///path, a plain path, or postgresql://...; anything else is a ConfigError.
        `busy_timeout`: seconds a SQLite writer waits for another process's lock (then Unavailable).
        `status_url`: this process's status base URL, stored on existing CAs by migration 0014."""
        engine = create_engine(url, busy_timeout=busy_timeout)
        read_engine = create_engine(url, read_only=True, busy_timeout=busy_timeout)
        migrated = False
        try:
            await (
                migrations.upgrade(engine, status_url=status_url)
                if migrate
                else migrations.check_current(read_engine)
            )
            migrated = True
        finally:
            if not migrated:
                await engine.dispose()
                await read_engine.dispose()
        return cls(engine, read_engine, busy_timeout=busy_timeout)

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self._engine.dialect.name

    @property
    def sqlite_commits(self) -> int | None:
        """Physical COMMITs of this process's write transactions on SQLite, where several share one
        (storage/group_commit.py); None on PostgreSQL."""
        return None if self._group_writer is None else self._group_writer.commits

    @property
    def write_engine(self) -> AsyncEngine:
        """The engine of transaction() (tests use it to plant rows no service would write)."""
        return self._engine

    @property
    def engines(self) -> tuple[Engine, Engine]:
        """The sync engines under the write and the read connections (for instrumentation: tests count
        round trips on them with SQLAlchemy's events)."""
        writer = self._loop_writer or self._engine.sync_engine
        reader = self._loop_reader or self._read_engine.sync_engine
        return writer, reader

    async def check_schema(self) -> None:
        """Readiness (/readyz): connect through the read pool and check the schema is at this code's
        head. Unavailable when the database does not answer, ConfigError at another revision."""
        try:
            await migrations.check_current(self._read_engine)
        except (OSError, SQLAlchemyError) as exc:  # TimeoutError is an OSError
            raise Unavailable(f"the database does not answer ({type(exc).__name__})", retry_after=5) from exc

    def pool_usage(self) -> list[PoolUsage]:
        """This process's connection pools (write, read): in use, idle, configured size."""
        usage = []
        for name, engine in zip(("write", "read"), self.engines, strict=True):
            pool = engine.pool
            if isinstance(pool, QueuePool):  # SQLite's loop engines and asyncpg's pools
                usage.append(PoolUsage(name, pool.checkedout(), pool.checkedin(), pool.size()))
        return usage

    async def close(self) -> None:
        if self._group_writer is not None:
            await self._group_writer.close()
        while self._idle_readers:
            self._idle_readers.pop().close()
        await self._kept_writers.close()
        await self._kept_readers.close()
        await self.nonces.close()
        await self.rate_counters.close()
        if self._driver_pool is not None:
            await self._driver_pool.close()
        for loop_engine in (self._loop_reader, self._loop_writer):
            if loop_engine is not None:
                loop_engine.dispose()
        await self._engine.dispose()
        await self._read_engine.dispose()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """One read-write transaction: committed when the block ends, rolled back when it raises.
        On SQLite it starts with BEGIN IMMEDIATE, so writers queue instead of failing, and it shares
        its COMMIT with the writers queued with it (storage/group_commit.py): it returns once that
        COMMIT is durable."""
        async with self._write_connection() as connection:
            try:
                yield Tx(connection)
            except IntegrityError as error:  # raised by COMMIT itself (deferred constraints)
                conflict = as_conflict(error, {})
                if conflict is None:
                    raise
                raise conflict from error

    @asynccontextmanager
    async def _write_connection(self) -> AsyncIterator[DriverConnection | LoopConnection]:
        if self._group_writer is None:
            async with self._kept_writers.transaction() as connection:
                yield DriverConnection(connection)
            return
        async with self._group_writer.transaction() as loop_connection:
            yield loop_connection

    @asynccontextmanager
    async def read_one(self) -> AsyncIterator[Tx]:
        """For a read that is one statement (the account of every ACME request): no transaction
        around it. On PostgreSQL an autocommit statement is one round trip where read() costs
        three (BEGIN ... READ ONLY, the statement, COMMIT), and a single statement sees one snapshot
        anyway. On SQLite the same as read(). Never write through it."""
        if self._loop_reader is not None:
            # No transaction either: the connection is in autocommit (pysqlite isolation_level None), so
            # the statement is its own read transaction, and BEGIN/COMMIT would be two more statements.
            reader = self._idle_readers.pop() if self._idle_readers else self._loop_reader.connect()
            try:
                yield Tx(LoopConnection(reader))
                if reader.in_transaction():  # a statement not prepared() made SQLAlchemy begin one
                    reader.rollback()
            except BaseException:
                reader.close()
                raise
            self._keep_reader(reader)
            return
        async with self._kept_readers.autocommit() as connection:
            yield Tx(DriverConnection(connection))

    def _keep_reader(self, reader: Connection) -> None:
        if len(self._idle_readers) < _IDLE_READERS:
            self._idle_readers.append(reader)
        else:
            reader.close()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        """One read-only transaction over a consistent snapshot; a write inside it fails."""
        if self._loop_reader is not None:
            # An idle connection kept from an earlier read: a pool checkout and check-in (with its
            # reset) cost more than the one-statement reads of most requests.
            reader = self._idle_readers.pop() if self._idle_readers else self._loop_reader.connect()
            try:
                with reader.begin():
                    yield Tx(LoopConnection(reader))
            except BaseException:
                reader.close()
                raise
            self._keep_reader(reader)
            return
        async with self._kept_readers.transaction() as connection:
            yield Tx(DriverConnection(connection))


_IDLE_READERS = 8  # SQLite read connections kept between reads (more are opened under load)
_KEPT_PG = 4  # PostgreSQL connections kept per pool between transactions (of each pool's 10)
