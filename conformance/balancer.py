"""A round-robin TCP load balancer on loopback, for running `ours` as several replicas behind one address:
each new connection goes to the next replica in turn and its bytes pass through untouched, so TLS ends
at the replica. Bounded: connections at once, connect and idle timeouts, and a stop that waits a limited
time. It runs an asyncio loop in one thread of the test process."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

LOOPBACK = "127.0.0.1"
MAX_CONNECTIONS = 256  # open at once; the suite needs a few dozen at most
CONNECT_TIMEOUT = 5.0
IDLE_TIMEOUT = 120.0  # no byte either way for this long closes the connection (uvicorn's own is 5 s)
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
CHUNK = 64 * 1024


class RoundRobinBalancer:
    """Listens on a free loopback port from construction (so replicas can be told its URL before it
    forwards anything); `start` begins forwarding, `stop` closes every connection and the listener."""

    def __init__(self, *, log: Path) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((LOOPBACK, 0))
        self._listener.listen(128)
        self.port = int(self._listener.getsockname()[1])
        self.upstreams: list[int] = []
        self.forwarded: list[int] = []  # connections handed to each upstream
        self.refused = 0  # over MAX_CONNECTIONS, or the upstream did not accept
        self._log: IO[str] = log.open("w")
        self._log_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._turns: Iterator[int] = iter(())

    def start(self, upstream_ports: Sequence[int]) -> None:
        if not upstream_ports:
            raise ValueError("a balancer needs at least one upstream")
        self.upstreams = list(upstream_ports)
        self.forwarded = [0] * len(self.upstreams)
        self._turns = itertools.cycle(range(len(self.upstreams)))
        self._thread = threading.Thread(target=self._run, name=f"balancer:{self.port}", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT) or self._failure is not None:
            self.stop()
            raise RuntimeError(f"the balancer on port {self.port} did not start: {self._failure}")
        self._write(f"listening on {LOOPBACK}:{self.port}, upstreams {self.upstreams}")

    def stop(self) -> None:
        """Close the listener and every forwarded connection; wait at most STOP_TIMEOUT for the thread."""
        loop, stopping, thread = self._loop, self._stopping, self._thread
        if loop is not None and stopping is not None and thread is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(stopping.set)
            thread.join(STOP_TIMEOUT)
            if thread.is_alive():
                self._write(f"still running {STOP_TIMEOUT:.0f} s after stop (a daemon thread: left to exit)")
        self._listener.close()
        self._write(f"stopped; forwarded {self.forwarded}, refused {self.refused}")
        with self._log_lock:
            if not self._log.closed:
                self._log.close()

    def summary(self) -> str:
        pairs = zip(self.upstreams, self.forwarded, strict=True)
        return ", ".join(f"{port}: {count} connection(s)" for port, count in pairs)

    # --- the loop thread

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported by start(), or in the log once running
            self._failure = error
            self._write(f"failed: {error!r}")
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._accept, sock=self._listener)
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.wait(list(self._tasks), timeout=STOP_TIMEOUT)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), STOP_TIMEOUT)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if len(self._tasks) > MAX_CONNECTIONS:
                self.refused += 1
                self._write(f"refused a connection: {MAX_CONNECTIONS} already open")
                return
            index = next(self._turns)  # only this loop's thread takes turns
            await self._forward(client_reader, client_writer, index)
        except asyncio.CancelledError:
            pass  # stop(): end quietly (asyncio logs a cancelled stream handler as an error)
        finally:
            await _close(client_writer)
            self._tasks.discard(task)

    async def _forward(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter, index: int
    ) -> None:
        port = self.upstreams[index]
        try:
            upstream_reader, upstream_writer = await asyncio.wait_for(
                asyncio.open_connection(LOOPBACK, port), CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError) as error:
            self.refused += 1
            self._write(f"upstream {port} did not accept: {error!r}")
            return
        self.forwarded[index] += 1
        peer = client_writer.get_extra_info("peername")
        self._write(f"{peer[0]}:{peer[1]} -> {port} (#{sum(self.forwarded)})")
        last_activity = [time.monotonic()]
        pumps = {
            asyncio.create_task(_pump(client_reader, upstream_writer, last_activity)),
            asyncio.create_task(_pump(upstream_reader, client_writer, last_activity)),
        }
        try:
            pending = pumps
            while pending:
                done, pending = await asyncio.wait(pending, timeout=1.0)
                if any(not task.result() for task in done):
                    break  # a reset on either side ends both
                if time.monotonic() - last_activity[0] > IDLE_TIMEOUT:
                    self._write(f"closed a connection to {port}: idle for {IDLE_TIMEOUT:.0f} s")
                    break
        finally:
            for task in pumps:
                task.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            await _close(upstream_writer)

    def _write(self, line: str) -> None:
        with self._log_lock:
            if not self._log.closed:
                self._log.write(f"{time.strftime('%H:%M:%S')} {line}\n")
                self._log.flush()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, activity: list[float]) -> bool:
    """Copy until end of stream, then pass the half-close on. False if either side failed."""
    try:
        while data := await reader.read(CHUNK):
            activity[0] = time.monotonic()
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        return False
    return True


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        await asyncio.wait_for(writer.wait_closed(), STOP_TIMEOUT)
