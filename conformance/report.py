"""The per-client table printed at the end of a run: client x target -> passed / failed / xfail
(a recorded reference deviation) / unsupported (by the reference or by the client) / skipped."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import pytest

DEVIATION = "reference deviation"
UNSUPPORTED_BY_REFERENCE = "unsupported by reference"
UNSUPPORTED_BY_CLIENT = "unsupported by client"
ORDER = ("passed", "failed", "xfail", "unsupported", "skipped")
RANK = {"failed": 3, "passed": 1, "xfail": 2, "unsupported": 2, "skipped": 2}


def classify(report: pytest.TestReport) -> tuple[str, str]:
    """(outcome, reason) of one phase report, in the table's words."""
    if report.failed:
        return "failed", ""
    if hasattr(report, "wasxfail"):
        reason = str(report.wasxfail)
        return ("unsupported" if UNSUPPORTED_BY_REFERENCE in reason else "xfail"), reason
    if report.skipped:
        assert isinstance(report.longrepr, tuple)
        reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        return ("unsupported" if reason.startswith(UNSUPPORTED_BY_CLIENT) else "skipped"), reason
    return "passed", ""


@dataclass(eq=False)  # a pytest plugin object: hashed by identity
class ConformanceReport:
    """A pytest plugin: remembers each scenario's client and target at collection, its outcome as it
    runs, and prints the table in the terminal summary."""

    labels: dict[str, str]
    scenarios: dict[str, tuple[str, str]] = field(default_factory=dict)  # nodeid -> (client, target)
    outcomes: dict[str, tuple[str, str]] = field(default_factory=dict)  # nodeid -> (outcome, reason)

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            marker = item.get_closest_marker("client")
            callspec = getattr(item, "callspec", None)
            if marker is not None and callspec is not None and "target" in callspec.params:
                self.scenarios[item.nodeid] = (str(marker.args[0]), str(callspec.params["target"]))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.nodeid not in self.scenarios:
            return
        if report.when == "teardown" and not report.failed:
            return
        if report.when == "setup" and report.passed:
            return
        outcome = classify(report)
        previous = self.outcomes.get(report.nodeid)
        if previous is None or RANK[outcome[0]] >= RANK[previous[0]]:
            self.outcomes[report.nodeid] = outcome

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.outcomes:
            return
        cells: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        clients: list[str] = []
        for nodeid, (outcome, _) in self.outcomes.items():
            client, target = self.scenarios[nodeid]
            cells[client, target][outcome] += 1
            if client not in clients:
                clients.append(client)
        targets = [t for t in self.labels if any(t == target for _, target in self.scenarios.values())]
        rows = [["client", *(self.labels[t] for t in targets)]]
        for client in clients:
            row = [client]
            for target in targets:
                counts = cells.get((client, target), Counter())
                row.append(", ".join(f"{counts[o]} {o}" for o in ORDER if counts[o]) or "-")
            rows.append(row)
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        write = terminalreporter.write_line
        terminalreporter.section("ACME conformance: client x target")
        for index, row in enumerate(rows):
            write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
            if index == 0:
                write("  ".join("-" * width for width in widths))
        self._list(write, "xfail", "recorded deviations of the reference")
        self._list(write, "unsupported", "unsupported")

    def _list(self, write: object, outcome: str, title: str) -> None:
        entries = [
            (nodeid, reason)
            for nodeid, (found, reason) in self.outcomes.items()
            if found == outcome and reason
        ]
        if not entries:
            return
        assert callable(write)
        write("")
        write(f"{title}:")
        for nodeid, reason in entries:
            write(f"  {nodeid.split('::')[-1]}: {reason}")
