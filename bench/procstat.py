"""Linux /proc accounting and CPU pinning for the benchmarks: CPU seconds and resident memory of a
process group, and `sched_setaffinity` on every thread of a process (a pid alone names only its main
thread; a Go program such as Pebble already has its other threads when it is pinned)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat from field 3 (state) on; the command name may hold spaces and parentheses."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def process_cpu(pids: Iterable[int]) -> dict[int, float]:
    """pid -> utime + stime in seconds (fields 14 and 15, counted from 1) of each live process."""
    found = {}
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            found[pid] = (int(fields[11]) + int(fields[12])) / _TICK
    return found


def group_pids(group: int) -> list[int]:
    """Every process whose process group is `group` (our server's uvicorn workers included: each
    benchmarked process is started in its own session, conformance/servers.py Process)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[2]) == group:  # field 5: pgrp
                pids.append(int(entry.name))
    return pids


def rss_bytes(pids: Iterable[int]) -> int:
    """Resident set size summed over `pids` (/proc/PID/statm field 2, in pages)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
    return total


def delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two samples. A process seen only at the end counts whole; one gone by then is
    lost (uvicorn workers and pooled PostgreSQL backends live through a batch)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def pin(pids: Iterable[int], cpus: set[int]) -> int:
    """Pin every thread of each process to `cpus`; the number of threads pinned. Threads and children
    made later inherit the affinity of the thread that makes them."""
    pinned = 0
    for pid in pids:
        try:
            tids = [int(entry.name) for entry in Path(f"/proc/{pid}/task").iterdir()]
        except OSError:
            continue  # gone
        for tid in tids:
            with contextlib.suppress(ProcessLookupError):
                os.sched_setaffinity(tid, cpus)
                pinned += 1
    return pinned


@dataclass(frozen=True)
class Pinning:
    """Where the servers and where the load generator run; `None` when not pinned."""

    server: frozenset[int]
    client: frozenset[int]

    @classmethod
    def default(cls, cpus: Sequence[int] | None = None) -> Pinning | None:
        """Servers on the first usable CPU, the client on the second; None on a one-CPU machine."""
        usable = sorted(cpus if cpus is not None else os.sched_getaffinity(0))
        if len(usable) < 2:
            return None
        return cls(frozenset({usable[0]}), frozenset({usable[1]}))

    def servers(self, pids: Iterable[int]) -> None:
        pin(pids, set(self.server))

    @contextlib.contextmanager
    def as_client(self) -> Iterator[None]:
        """This process (every thread) on the client CPU for the block, then back on the server CPU,
        so processes it starts outside client blocks inherit the server CPU."""
        pin([os.getpid()], set(self.client))
        try:
            yield
        finally:
            pin([os.getpid()], set(self.server))


@contextlib.contextmanager
def restored_affinity() -> Iterator[None]:
    """Give this process back its CPU affinity afterwards (pytest runs the benchmark in-process)."""
    original = os.sched_getaffinity(0)
    try:
        yield
    finally:
        pin([os.getpid()], original)
