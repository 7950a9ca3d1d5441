"""The conformance suite: every scenario runs once per target (Pebble, the reference, and our server),
sharing one server and one pebble-challtestsrv per target per session.

Targets: --targets pebble,ours or ACME_CONFORMANCE_TARGETS (default both). `ours` runs on SQLite unless
ACME_CONFORMANCE_DATABASE names a PostgreSQL server (a database is created there for the session and
dropped after), with ACME_CONFORMANCE_WORKERS workers (default 1), as ACME_CONFORMANCE_REPLICAS servers
on that one database behind a round-robin TCP balancer (default 1; more than 1 needs PostgreSQL).

Markers: client(name) names the client in the table; reference_deviation(reason) and
unsupported_by_reference(reason) turn a scenario into xfail(strict=True) for the reference only, so a
Pebble fault is recorded as such, and a Pebble fix (an unexpected pass) fails the run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conformance import servers
from conformance.clients import acmelib, gocm
from conformance.names import Names
from conformance.report import DEVIATION, UNSUPPORTED_BY_REFERENCE, ConformanceReport
from conformance.servers import ChallTestSrv, StartupError, Target
from conformance.tools import require_tool

TARGETS = ("pebble", "ours")
REFERENCE = "pebble"
MARKERS = (
    "client(name): the ACME client a scenario drives (a row of the conformance table)",
    "reference_deviation(reason): a check the reference (Pebble 2.4.0) is known to fail: xfail(strict) there",
    "unsupported_by_reference(reason): a feature the reference lacks: xfail(strict) there",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("conformance").addoption(
        "--targets",
        default=None,
        help="comma-separated ACME servers: pebble, ours (env ACME_CONFORMANCE_TARGETS, default both)",
    )


def selected_targets(config: pytest.Config) -> list[str]:
    raw = config.getoption("--targets") or os.environ.get("ACME_CONFORMANCE_TARGETS") or ",".join(TARGETS)
    names = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = sorted(set(names) - set(TARGETS))
    if unknown or not names:
        raise pytest.UsageError(f"unknown conformance target(s) {unknown}; choose from {list(TARGETS)}")
    return names


@dataclass(frozen=True)
class OursSettings:
    """How `ours` runs: its database (None: SQLite in the data directory), --workers per server, and
    how many servers share that database behind a round-robin balancer."""

    database: str | None
    workers: int
    replicas: int

    @property
    def label(self) -> str:
        """`ours[postgresql, 2 workers, 2 replicas]`: the variant, as the table names it."""
        parts = ["postgresql" if self.database else "sqlite"]
        if self.workers != 1:
            parts.append(f"{self.workers} workers")
        if self.replicas != 1:
            parts.append(f"{self.replicas} replicas")
        return f"ours[{', '.join(parts)}]"


def _positive(variable: str) -> int:
    raw = os.environ.get(variable, "").strip() or "1"
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise pytest.UsageError(f"{variable}={raw!r}: a whole number of at least 1")
    return value


def ours_settings() -> OursSettings:
    """From ACME_CONFORMANCE_DATABASE, _WORKERS and _REPLICAS; a usage error for what cannot run."""
    database = os.environ.get("ACME_CONFORMANCE_DATABASE") or None
    workers = _positive("ACME_CONFORMANCE_WORKERS")
    replicas = _positive("ACME_CONFORMANCE_REPLICAS")
    if replicas > 1 and not servers.is_postgresql(database):
        raise pytest.UsageError(
            f"ACME_CONFORMANCE_REPLICAS={replicas} needs ACME_CONFORMANCE_DATABASE set to a PostgreSQL URL "
            f"(e.g. postgresql://postgres@127.0.0.1:5432/postgres), not {database or 'unset (SQLite)'}: "
            "replicas share one database, and SQLite in a data directory cannot be shared"
        )
    return OursSettings(database, workers, replicas)


def target_label(name: str) -> str:
    return ours_settings().label if name == "ours" else name


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    labels = {name: target_label(name) for name in selected_targets(config)}
    config.pluginmanager.register(ConformanceReport(labels), "conformance-report")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "target" in metafunc.fixturenames:
        metafunc.parametrize("target", selected_targets(metafunc.config), indirect=True, scope="session")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Record the reference's known faults and gaps as strict xfails, visibly, on its runs only."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or callspec.params.get("target") != REFERENCE:
            continue
        for kind, prefix in (
            ("reference_deviation", DEVIATION),
            ("unsupported_by_reference", UNSUPPORTED_BY_REFERENCE),
        ):
            for marker in item.iter_markers(kind):
                item.add_marker(pytest.mark.xfail(strict=True, reason=f"{prefix}: {marker.args[0]}"))


# --- servers


@pytest.fixture(scope="session")
def challtestsrv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChallTestSrv]:
    """Mock DNS for every target (A -> 127.0.0.1, TXT for dns-01), scripted over HTTP."""
    require_tool("pebble-challtestsrv")
    running = ChallTestSrv(tmp_path_factory.mktemp("challtestsrv"))
    yield running
    running.stop()


def _start(name: str, workdir: Path, challtestsrv: ChallTestSrv) -> Iterator[Target]:
    if name == "pebble":
        require_tool("pebble")
        try:
            target: Target = servers.start_pebble(workdir, challtestsrv)
        except StartupError as error:
            pytest.fail(f"pebble did not start: {error}", pytrace=False)
        yield target
        target.stop()
        return
    settings = ours_settings()
    with servers.session_database(settings.database) as url:
        try:
            target = servers.start_ours(
                workdir, challtestsrv, database_url=url, workers=settings.workers, replicas=settings.replicas
            )
        except StartupError as error:
            pytest.fail(f"acme-server did not start: {error}", pytrace=False)
        yield target
        target.stop()


@pytest.fixture(scope="session")
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, challtestsrv: ChallTestSrv
) -> Iterator[Target]:
    """The server under test, started once per session (the parameter is its name)."""
    name = str(request.param)
    yield from _start(name, tmp_path_factory.mktemp(name), challtestsrv)


@pytest.fixture
def fresh_target(
    target: Target, tmp_path_factory: pytest.TempPathFactory, challtestsrv: ChallTestSrv
) -> Iterator[Target]:
    """A second, throwaway server of the same kind, for a scenario that may wedge the server (Pebble
    2.4.0 stops answering after one of them)."""
    yield from _start(target.name, tmp_path_factory.mktemp(f"{target.name}-fresh"), challtestsrv)


@pytest.fixture
def responder(target: Target, tmp_path: Path) -> Iterator[ChallTestSrv]:
    """pebble-challtestsrv serving HTTP-01 and TLS-ALPN-01 on the target's validation ports, for this
    scenario only (certbot and lego bind those ports themselves in theirs)."""
    running = ChallTestSrv(
        tmp_path,
        dns=False,
        http01_port=target.http01_port,
        tlsalpn01_port=target.tlsalpn01_port,
        name="responder",
    )
    yield running
    running.stop()


# --- names, clients


@pytest.fixture
def names() -> Names:
    """Fresh DNS names for one scenario."""
    return Names()


@pytest.fixture
def wire(target: Target) -> Iterator[acmelib.Wire]:
    connection = acmelib.Wire(target)
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def gocm_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return gocm.build(tmp_path_factory.mktemp("gocm-build"))
