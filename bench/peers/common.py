"""What every system's measurement shares; standard library only (runs in both venvs).

Completions are recorded by the tasks themselves: each handler appends one fixed-width
line `<enqueued at> <started at>` (wall-clock seconds) to a file named by
`BENCH_PEER_OUT`. Appends of one small `os.write` to an `O_APPEND` file are atomic
across processes, cost a few microseconds, and involve neither the queue's store nor the
network, so the recorder does not favour a peer that happens to share its store.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent.parent
OUT_ENV = "BENCH_PEER_OUT"
LINE = 36  # "%17.6f %17.6f\n"
CONCURRENCY = 10
LATENCY_INTERVAL = 0.050
GRACE_SECONDS = 5.0
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"


def data(i: int, enqueued_at: float = 0.0) -> dict[str, Any]:
    """The small dict argument every task gets (as in bench/throughput.py), plus its send time."""
    return {"n": i, "user": f"user-{i % 97}", "tags": ["bench", "noop"], "t": enqueued_at}


_fd: dict[str, int] = {}


def record(arg: dict[str, Any]) -> None:
    """The no-op handler's only work: note when it started, for the enqueue stamped in `arg`."""
    path = os.environ[OUT_ENV]
    fd = _fd.get(path)
    if fd is None:
        fd = _fd[path] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, b"%17.6f %17.6f\n" % (float(arg.get("t", 0.0)), time.time()))


class Recorder:
    """The file the handlers append to; one per measurement."""

    def __init__(self, folder: Path, name: str) -> None:
        self.path = folder / f"{name}.out"
        self.path.write_bytes(b"")

    def count(self) -> int:
        return self.path.stat().st_size // LINE

    def rows(self) -> list[tuple[float, float]]:
        out = []
        for line in self.path.read_bytes().splitlines():
            enqueued, started = line.split()
            out.append((float(enqueued), float(started)))
        return out

    def wait(self, n: int, procs: Sequence[Worker], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.count() < n:
            for worker in procs:
                if worker.process.poll() is not None:
                    raise RuntimeError(
                        f"worker exited with {worker.process.returncode}:\n{worker.tail()}"
                    )
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.count()} of {n} tasks done after {timeout:.0f}s")
            time.sleep(0.02)


@dataclass(slots=True)
class Worker:
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    def tail(self, lines: int = 20) -> str:
        self.log.flush()
        self.log.seek(0)
        return "\n".join(self.log.read().decode(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def workers(
    command: Sequence[str], count: int, out: Path, env: dict[str, str] | None = None
) -> Iterator[list[Worker]]:
    """`count` real worker processes of a peer; SIGTERM then SIGKILL on the way out."""
    started: list[Worker] = []
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", OUT_ENV: str(out), **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), full_env.get("PYTHONPATH", "")) if p
    )
    with contextlib.ExitStack() as logs:
        try:
            for _ in range(count):
                log = logs.enter_context(tempfile.TemporaryFile())
                started.append(
                    Worker(
                        subprocess.Popen(
                            list(command),
                            cwd=ROOT,
                            env=full_env,
                            stdout=log,
                            stderr=log,
                            start_new_session=True,
                        ),
                        log,
                    )
                )
            yield started
        finally:
            stop(started)


def stop(started: Sequence[Worker]) -> None:
    # Whole process groups: Celery, Huey and RQ pools have children of their own.
    for worker in started:
        if worker.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.process.pid, signal.SIGTERM)
    for worker in started:
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.process.wait(timeout=GRACE_SECONDS + 5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait()


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def with_database(url: str, database: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


@contextlib.contextmanager
def fresh_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A new PostgreSQL database for one system, dropped afterwards (also on failure)."""
    import uuid

    import psycopg
    from psycopg import sql

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@dataclass(slots=True)
class Result:
    """One system's figures; None where a figure does not apply, with the reason in notes."""

    system: str
    store: str
    version: str = ""
    enqueue_one_per_s: float | None = None
    enqueue_bulk_per_s: float | None = None
    processed_per_s_1proc: float | None = None
    processed_per_s_2procs: float | None = None
    pickup_p50_ms: float | None = None
    pickup_p99_ms: float | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Settings:
    tasks: int
    single: int
    samples: int
    concurrency: int = CONCURRENCY
    postgres_url: str = DEFAULT_POSTGRES_URL
    redis_url: str = DEFAULT_REDIS_URL


class Peer:
    """A system under test. Subclasses fill the four measurements; None means "has none"."""

    name = ""
    store = ""
    package = ""
    database = False
    """True: the harness creates a fresh PostgreSQL database and sets `url` to it."""
    redis_db: int | None = None
    """A Redis db number of this peer's own: flushed before and after, nothing else is."""
    url = ""

    def __init__(self, s: Settings, folder: Path) -> None:
        self.s = s
        self.folder = folder

    def setup(self) -> None: ...

    def teardown(self) -> None: ...

    def clear(self) -> None:
        """Drop what the enqueue measurements left, so processing starts on an empty store."""

    def enqueue_one(self, n: int) -> float:
        """Tasks per second, one call per task."""
        raise NotImplementedError

    def enqueue_bulk(self, n: int) -> float | None:
        """Tasks per second through the peer's bulk call; None if it has none."""
        return None

    def fill(self, n: int, queue: str) -> None:
        """Queue n tasks for `process` (not timed)."""
        raise NotImplementedError

    def worker_command(self, queue: str) -> list[str]:
        """One worker process at concurrency `self.s.concurrency` on `queue`."""
        raise NotImplementedError

    def send_one(self, i: int, queue: str) -> None:
        """Enqueue one task stamped with the wall clock (for pickup latency)."""
        raise NotImplementedError

    def worker_env(self, queue: str) -> dict[str, str]:
        return {}

    # -- shared logic ---------------------------------------------------------------------

    def process(self, n: int, procs: int, queue: str) -> float:
        """Seconds from starting `procs` workers to the last completion the tasks recorded."""
        self.fill(n, queue)
        rec = Recorder(self.folder, f"{queue}-{procs}")
        start = time.time()
        with workers(
            self.worker_command(queue), procs, rec.path, self.worker_env(queue)
        ) as running:
            rec.wait(n, running, max(180.0, n / 20))
        last = max(started for _, started in rec.rows())
        return last - start

    def pickup(self, samples: int, queue: str) -> list[float]:
        """Milliseconds from enqueue to handler start, a task every 50 ms at idle."""
        rec = Recorder(self.folder, f"{queue}-latency")
        with workers(self.worker_command(queue), 1, rec.path, self.worker_env(queue)) as running:
            self.send_one(-1, queue)  # the worker is up once this one ran
            rec.wait(1, running, 120.0)
            time.sleep(1.0)
            tick = time.monotonic()
            for i in range(samples):
                self.send_one(i, queue)
                tick += LATENCY_INTERVAL
                time.sleep(max(0.0, tick - time.monotonic()))
            rec.wait(samples + 1, running, 60.0)
        return [(started - enq) * 1000 for enq, started in rec.rows()[1:]]


def measure(peer: Peer, s: Settings, log: Any) -> Result:
    """Every measurement of one peer on fresh state; a failed step keeps what came before."""
    r = Result(peer.name, peer.store)

    def step(what: str) -> None:
        log(f"{peer.name}: {what}")

    try:
        peer.setup()
        step(f"enqueue {s.single} one at a time")
        r.enqueue_one_per_s = peer.enqueue_one(s.single)
        step(f"enqueue {s.tasks} in bulk")
        r.enqueue_bulk_per_s = peer.enqueue_bulk(s.tasks)
        if r.enqueue_bulk_per_s is None:
            r.notes.append("no bulk enqueue")
        peer.clear()
        for procs in (1, 2):
            step(f"process {s.tasks} with {procs} worker process(es)")
            seconds = peer.process(s.tasks, procs, f"p{procs}")
            r.details[f"process_{procs}proc_seconds"] = round(seconds, 3)
            rate = s.tasks / seconds
            if procs == 1:
                r.processed_per_s_1proc = rate
            else:
                r.processed_per_s_2procs = rate
        step(f"pickup latency, {s.samples} samples")
        lat = peer.pickup(s.samples, "lat")
        r.pickup_p50_ms = percentile(lat, 50)
        r.pickup_p99_ms = percentile(lat, 99)
    except Exception as exc:
        r.error = f"{type(exc).__name__}: {exc}"
        log(f"{peer.name}: failed: {r.error}")
    finally:
        try:
            peer.teardown()
        except Exception as exc:
            r.notes.append(f"teardown failed: {exc}")
    return r
