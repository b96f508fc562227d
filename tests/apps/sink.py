"""A test app whose tasks leave a trace of every execution in a sink file.

The store URL comes from CONVEYOR_URL and the sink from CONVEYOR_SINK, both read when
used, so a worker subprocess and an in-process test can share the same definitions.

Every execution appends one line `<event> <key> <pid>` with a single `write` on a file
opened with O_APPEND, then fsyncs: lines from several processes never interleave, and a
line written before a SIGKILL is still there afterwards. Counting `run` lines per key
counts executions, so a duplicate or a lost task shows up in the sink.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

from conveyor import Conveyor

GATE_LIMIT_SECONDS = 120.0
"""A blocked task gives up after this long, so a forgotten gate cannot hang a test run."""


def record(event: str, key: str) -> None:
    path = os.environ.get("CONVEYOR_SINK")
    if not path:
        raise RuntimeError("CONVEYOR_SINK names no sink file")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{event} {key} {os.getpid()}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def wait_for_gate(gate: str) -> None:
    deadline = time.monotonic() + GATE_LIMIT_SECONDS
    while not Path(gate).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {gate} never opened")
        time.sleep(0.01)


def run(key: str) -> dict[str, str]:
    """A sync task: runs in the worker's thread pool."""
    record("run", key)
    return {"key": key, "thread": threading.current_thread().name}


async def arun(key: str) -> dict[str, str]:
    """An async task: runs on the worker's event loop."""
    asyncio.get_running_loop()
    record("run", key)
    return {"key": key, "thread": threading.current_thread().name}


def block(key: str, gate: str) -> int:
    """Holds a task mid-run until the file `gate` exists; returns the runner's pid."""
    record("run", key)
    wait_for_gate(gate)
    record("done", key)
    return os.getpid()


async def ablock(key: str, gate: str) -> int:
    """The async form of `block`: cancelling it really stops it."""
    record("run", key)
    while not Path(gate).exists():
        await asyncio.sleep(0.01)
    record("done", key)
    return os.getpid()


async def nap(key: str, seconds: float) -> str:
    """Runs for `seconds`, e.g. longer than a lease."""
    record("run", key)
    await asyncio.sleep(seconds)
    record("done", key)
    return key


def explode(key: str) -> None:
    """Always raises."""
    record("run", key)
    raise RuntimeError(f"boom {key}")


async def overrun(key: str) -> str:
    """Sleeps far past any timeout a test gives it."""
    record("run", key)
    await asyncio.sleep(60)
    return key


def overrun_sync(key: str, gate: str) -> int:
    """A sync handler past its timeout: its thread cannot be stopped, only abandoned."""
    return block(key, gate)


def not_json(key: str) -> object:
    """Returns a value JSON cannot carry."""
    record("run", key)
    return {key}


def add(x: int, y: int) -> int:
    """A workflow step: receives the previous result as `x` in a chain."""
    record("run", f"add:{x}:{y}")
    return x + y


def collect(values: list[object], key: str = "collect") -> list[object]:
    """A chord callback: records one run under `key` and returns what it was given."""
    record("run", key)
    return values


def held(value: int, gate: str) -> int:
    """A workflow member that waits for `gate`, then returns `value`."""
    record("run", f"held:{value}")
    wait_for_gate(gate)
    return value


def noop() -> None:
    """Does nothing and leaves no trace: load for tests of throughput and retention."""


def build(url: str | None = None) -> Conveyor:
    """A fresh app with every test task registered on it."""
    app = Conveyor(url)
    for plain in (run, arun, block, ablock, nap, add, collect, held, noop):
        app.task(plain)
    app.task(max_attempts=3, min_backoff=0.05, max_backoff=0.1)(explode)
    app.task(timeout=0.3, max_attempts=1)(overrun)
    app.task(timeout=0.3, max_attempts=1)(overrun_sync)
    app.task(max_attempts=1)(not_json)
    return app


app = build()


class SinkFile:
    """The test's side of the sink: where it is, what it holds, and the gates it opened."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "sink.log"
        self.folder = folder
        self._gates: list[Path] = []

    def lines(self) -> list[tuple[str, str, int]]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            event, key, pid = line.split(" ")
            out.append((event, key, int(pid)))
        return out

    def runs(self, key: str) -> list[int]:
        """The pid of each execution of the task recorded under `key`, in order."""
        return [pid for event, k, pid in self.lines() if event == "run" and k == key]

    def run_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for event, key, _ in self.lines():
            if event == "run":
                counts[key] = counts.get(key, 0) + 1
        return counts

    def done(self, key: str) -> bool:
        return any(event == "done" and k == key for event, k, _ in self.lines())

    def gate(self, name: str = "gate") -> str:
        """A gate that stays shut until `open`; every gate is opened at teardown."""
        path = self.folder / f"{name}.gate"
        self._gates.append(path)
        return str(path)

    def open(self, gate: str) -> None:
        Path(gate).touch()

    def open_all(self) -> None:
        for gate in self._gates:
            gate.touch()
