"""Conveyor's own throughput and latency, on SQLite and PostgreSQL.

    .venv/bin/python bench/throughput.py                 # both backends, 20,000 tasks
    .venv/bin/python bench/throughput.py --quick --json  # a smoke run, machine-readable
    CONVEYOR_BENCH_POSTGRES_URL=postgresql://u@host/postgres ... --backends postgres

For each backend, on a fresh store (a SQLite file in a temporary folder; a temporary
PostgreSQL database, dropped afterwards):

1. enqueue one at a time: `noop.enqueue({...})`, one transaction per task;
2. enqueue in bulk: `app.enqueue_many(...)` in batches of 1,000;
3. processing: the bulk-enqueued tasks drained by real `conveyor worker` processes
   (one, then two, at concurrency 10), from their start until the last one completed;
4. pickup latency: one idle worker, a task every 50 ms, `started_at - created_at` as the
   store recorded them.

See bench/README.md for what dominates each number.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.table import Table

from conveyor import Conveyor
from conveyor.store import open_store
from conveyor.store.base import Store
from conveyor.tasks import TaskFunction, TaskHandle

ROOT = Path(__file__).resolve().parent.parent
APP_SPEC = "bench.app:app"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BACKENDS = ("sqlite", "postgres")
BATCH = 1_000
CONCURRENCY = 10
LATENCY_INTERVAL = 0.050
POLL_SECONDS = 0.050
WORKER_GRACE_SECONDS = 5.0

err = Console(stderr=True, highlight=False)


# -- settings and results ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Settings:
    tasks: int
    single: int
    batch: int
    concurrency: int
    latency_samples: int
    latency_interval_ms: float

    @classmethod
    def from_args(cls, tasks: int | None, quick: bool) -> Settings:
        n = tasks if tasks is not None else (2_000 if quick else 20_000)
        return cls(
            tasks=n,
            single=max(100, n // 10),
            batch=min(BATCH, n),
            concurrency=CONCURRENCY,
            latency_samples=50 if quick else 200,
            latency_interval_ms=LATENCY_INTERVAL * 1000,
        )


@dataclass(slots=True)
class Result:
    backend: str
    enqueue_one_per_s: float | None = None
    enqueue_bulk_per_s: float | None = None
    processed_per_s_1proc: float | None = None
    processed_per_s_2procs: float | None = None
    pickup_p50_ms: float | None = None
    pickup_p99_ms: float | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


# -- backends: a fresh store URL, and a cheap "how many are left" query ---------------------


class Probe:
    """Raw SQL on a connection of its own, so polling costs the workers next to nothing."""

    def __init__(
        self,
        remaining: Callable[[str], int],
        span: Callable[[str], float],
        close: Callable[[], None],
    ) -> None:
        self.remaining = remaining
        """How many tasks of a queue are still queued or running."""
        self.span = span
        """Seconds from a queue's first claim to its last completion, by the store's clock."""
        self.close = close


UNFINISHED = (
    "SELECT count(*) FROM conveyor_tasks WHERE queue = {p} AND status IN ('queued', 'running')"
)
SQLITE_SPAN = "SELECT max(finished_at) - min(started_at) FROM conveyor_tasks WHERE queue = ?"
POSTGRES_SPAN = (
    "SELECT extract(epoch FROM max(finished_at) - min(started_at))::float8 "
    "FROM conveyor_tasks WHERE queue = %s"
)


@contextmanager
def sqlite_backend() -> Iterator[tuple[str, Callable[[], Probe]]]:
    with tempfile.TemporaryDirectory(prefix="conveyor-bench-") as folder:
        path = Path(folder) / "bench.db"

        def probe() -> Probe:
            conn = sqlite3.connect(path, timeout=30.0)

            def one(sql: str, queue: str) -> Any:
                return conn.execute(sql, (queue,)).fetchone()[0]

            return Probe(
                lambda q: int(one(UNFINISHED.format(p="?"), q)),
                lambda q: float(one(SQLITE_SPAN, q) or 0.0),
                conn.close,
            )

        yield f"sqlite:///{path}", probe


@contextmanager
def postgres_backend(admin_url: str) -> Iterator[tuple[str, Callable[[], Probe]]]:
    import psycopg
    from psycopg import sql

    from conveyor.store.postgres.store import PostgresStore  # noqa: F401 - fail early

    name = f"conveyor_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _with_database(admin_url, name)

    def probe() -> Probe:
        conn = psycopg.connect(url, autocommit=True)

        def one(query: str, queue: str) -> Any:
            row = conn.execute(query, (queue,)).fetchone()
            return row[0] if row else None

        return Probe(
            lambda q: int(one(UNFINISHED.format(p="%s"), q) or 0),
            lambda q: float(one(POSTGRES_SPAN, q) or 0.0),
            conn.close,
        )

    try:
        yield url, probe
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _with_database(url: str, database: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


# -- workers -------------------------------------------------------------------------------


def compile_sources() -> None:
    """Write the bytecode of Conveyor and the benchmark apps before any worker starts.

    The peers come from PyPI, and pip compiles what it installs; Conveyor runs from its
    source tree (an editable install), where nothing may have written bytecode yet (with
    PYTHONDONTWRITEBYTECODE set, nothing ever does). Every worker process would then
    compile each module it imports at start-up: 0.15 s of a 3 s run, measured here.
    """
    for folder in (ROOT / "src", ROOT / "bench"):
        compileall.compile_dir(folder, quiet=1)


def conveyor_command() -> list[str]:
    script = Path(sys.executable).parent / "conveyor"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from conveyor.cli.main import main; main()"]


@dataclass(slots=True)
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    def tail(self, lines: int = 15) -> str:
        self.log.flush()
        self.log.seek(0)
        return "\n".join(self.log.read().decode(errors="replace").splitlines()[-lines:])


def worker_command(app_spec: str, url: str, queue: str, concurrency: int, *extra: str) -> list[str]:
    """One `conveyor worker` of `app_spec` on one queue, quiet but for warnings."""
    return [
        *conveyor_command(),
        "worker",
        app_spec,
        "--url",
        url,
        "--queues",
        queue,
        "--concurrency",
        str(concurrency),
        "--grace",
        str(WORKER_GRACE_SECONDS),
        "--log-level",
        "warning",
        *extra,
    ]


@contextmanager
def workers(url: str, queue: str, count: int, concurrency: int) -> Iterator[list[WorkerProcess]]:
    """`count` real worker processes on one queue; always stopped on the way out."""
    started: list[WorkerProcess] = []
    command = worker_command(APP_SPEC, url, queue, concurrency)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("CONVEYOR_URL", None)
    with ExitStack() as logs:
        try:
            for _ in range(count):
                log = logs.enter_context(tempfile.TemporaryFile())
                process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
                started.append(WorkerProcess(process, log))
            yield started
        finally:
            stop(started)


def stop(started: Sequence[WorkerProcess]) -> None:
    """SIGTERM (drain within the grace period), then SIGKILL whatever is still there."""
    for worker in started:
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
    for worker in started:
        try:
            worker.process.wait(timeout=WORKER_GRACE_SECONDS + 5)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()


def wait_until_done(
    probe: Probe, queue: str, procs: Sequence[WorkerProcess], timeout: float
) -> float:
    """Poll until no task of `queue` is queued or running; the monotonic time it was seen."""
    deadline = time.monotonic() + timeout
    while True:
        now = time.monotonic()
        if probe.remaining(queue) == 0:
            return now
        for worker in procs:
            if worker.process.poll() is not None:
                raise RuntimeError(
                    f"worker exited with {worker.process.returncode}:\n{worker.tail()}"
                )
        if now > deadline:
            raise TimeoutError(
                f"{probe.remaining(queue)} task(s) of {queue!r} left after {timeout}s"
            )
        time.sleep(POLL_SECONDS)


# -- the measurements --------------------------------------------------------------------


def data(i: int) -> dict[str, Any]:
    return {"n": i, "user": f"user-{i % 97}", "tags": ["bench", "noop"]}


def enqueue_one(noop: TaskFunction[..., None], count: int) -> float:
    bound = noop.options(queue="single")
    start = time.perf_counter()
    for i in range(count):
        bound.enqueue(data(i))
    return count / (time.perf_counter() - start)


def enqueue_bulk(app: Conveyor, noop: TaskFunction[..., None], queue: str, s: Settings) -> float:
    bound = noop.options(queue=queue)
    elapsed = 0.0
    for first in range(0, s.tasks, s.batch):
        batch = [bound.s(data(i)) for i in range(first, min(first + s.batch, s.tasks))]
        start = time.perf_counter()
        app.enqueue_many(batch)
        elapsed += time.perf_counter() - start
    return s.tasks / elapsed


@dataclass(frozen=True, slots=True)
class Drain:
    seconds: float
    """From starting the worker processes until no task was left: what the table shows."""
    store_seconds: float
    """From the first claim to the last completion, by the store's clock (no start-up)."""


def process(url: str, store: Store, probe: Probe, queue: str, procs: int, s: Settings) -> Drain:
    """Drain `queue` (already filled) with `procs` worker processes."""
    timeout = max(120.0, s.tasks / 50)
    start = time.monotonic()
    with workers(url, queue, procs, s.concurrency) as running:
        done = wait_until_done(probe, queue, running, timeout)
    counts = next((q.counts for q in store.stats() if q.queue == queue), {})
    if counts.get("completed", 0) != s.tasks:
        raise RuntimeError(f"queue {queue!r} ended with {counts}, expected {s.tasks} completed")
    return Drain(done - start, max(probe.span(queue), 1e-6))


def pickup_latency(
    url: str,
    store: Store,
    noop: TaskFunction[..., None],
    probe: Probe,
    s: Settings,
) -> list[float]:
    """Latencies (ms) of tasks enqueued every 50 ms while one worker idles."""
    bound = noop.options(queue="latency")
    with workers(url, "latency", 1, s.concurrency) as running:
        bound.enqueue(data(-1))  # the worker is up once this one is done
        wait_until_done(probe, "latency", running, 60.0)
        time.sleep(1.0)  # let it settle into its idle wait
        handles: list[TaskHandle] = []
        tick = time.monotonic()
        for i in range(s.latency_samples):
            handles.append(bound.enqueue(data(i)))
            tick += LATENCY_INTERVAL
            time.sleep(max(0.0, tick - time.monotonic()))
        wait_until_done(probe, "latency", running, 60.0)
    latencies: list[float] = []
    for handle in handles:
        task = store.get(handle.id)
        assert task is not None and task.started_at is not None
        latencies.append((task.started_at - task.created_at).total_seconds() * 1000)
    return latencies


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def run_backend(
    backend: str,
    url: str,
    probe_factory: Callable[[], Probe],
    s: Settings,
) -> Result:
    """Every measurement on one fresh store; a failed step keeps what came before it."""
    from bench.app import app, noop

    result = Result(backend)
    store = open_store(url, migrate=True)
    app.use_store(store)
    probe = probe_factory()

    def step(what: str, measure: Callable[[], str]) -> None:
        err.print(f"[bold]{backend}[/bold]: {what} ... ", end="")
        start = time.perf_counter()
        outcome = measure()
        err.print(f"{outcome} ({time.perf_counter() - start:.1f}s)")

    def single() -> str:
        result.enqueue_one_per_s = enqueue_one(noop, s.single)
        return f"{result.enqueue_one_per_s:,.0f}/s"

    def bulk() -> str:
        result.enqueue_bulk_per_s = enqueue_bulk(app, noop, "p1", s)
        enqueue_bulk(app, noop, "p2", s)  # the two-process run's tasks, not measured again
        return f"{result.enqueue_bulk_per_s:,.0f}/s"

    def drain(procs: int) -> Callable[[], str]:
        def measure() -> str:
            drained = process(url, store, probe, f"p{procs}", procs, s)
            rate = s.tasks / drained.seconds
            name = f"process_{procs}proc"
            result.details[f"{name}_seconds"] = round(drained.seconds, 3)
            result.details[f"{name}_store_seconds"] = round(drained.store_seconds, 3)
            result.details[f"{name}_store_per_s"] = round(s.tasks / drained.store_seconds, 1)
            if procs == 1:
                result.processed_per_s_1proc = rate
            else:
                result.processed_per_s_2procs = rate
            return f"{rate:,.0f}/s ({s.tasks / drained.store_seconds:,.0f}/s from first claim)"

        return measure

    def pickup() -> str:
        latencies = pickup_latency(url, store, noop, probe, s)
        result.pickup_p50_ms = percentile(latencies, 50)
        result.pickup_p99_ms = percentile(latencies, 99)
        for pct in (90, 95):
            result.details[f"pickup_p{pct}_ms"] = round(percentile(latencies, pct), 3)
        result.details["pickup_min_ms"] = round(min(latencies), 3)
        result.details["pickup_max_ms"] = round(max(latencies), 3)
        return f"p50 {result.pickup_p50_ms:.1f} ms, p99 {result.pickup_p99_ms:.1f} ms"

    try:
        step(f"enqueue {s.single:,} one at a time", single)
        step(f"enqueue 2 x {s.tasks:,} in batches of {s.batch:,}", bulk)
        step(f"process {s.tasks:,} with 1 worker process", drain(1))
        step(f"process {s.tasks:,} with 2 worker processes", drain(2))
        step(f"pickup latency, {s.latency_samples} samples", pickup)
    except Exception as exc:
        err.print(f"[red]failed[/red]: {type(exc).__name__}: {exc}")
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        probe.close()
        app.close()
    return result


def run(backend: str, s: Settings) -> Result:
    try:
        if backend == "sqlite":
            with sqlite_backend() as (url, probe):
                return run_backend(backend, url, probe, s)
        admin = os.environ.get("CONVEYOR_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)
        with postgres_backend(admin) as (url, probe):
            return run_backend(backend, url, probe, s)
    except Exception as exc:
        err.print(f"[red]{backend} failed:[/red] {type(exc).__name__}: {exc}")
        return Result(backend, error=f"{type(exc).__name__}: {exc}")


# -- the machine and the report ------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": _postgres_version(),
        "platform": platform.platform(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def _cpu_model() -> str | None:
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return None


def _postgres_version() -> str | None:
    try:
        import psycopg

        admin = os.environ.get("CONVEYOR_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)
        with psycopg.connect(admin, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]).split()[0] if row else None
    except Exception:
        return None


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def table(results: Sequence[Result], info: dict[str, Any], s: Settings) -> Table:
    out = Table(
        title=f"Conveyor throughput ({s.tasks:,} tasks, concurrency {s.concurrency})",
        caption=(
            f"{info['cores']} cores ({info['cpu'] or 'unknown CPU'}), Python {info['python']}, "
            f"SQLite {info['sqlite']}, PostgreSQL {info['postgresql'] or 'n/a'}"
        ),
    )
    out.add_column("backend")
    out.add_column("enqueue one/s", justify="right")
    out.add_column("enqueue bulk/s", justify="right")
    out.add_column("processed/s 1 proc (2 procs)", justify="right")
    out.add_column("pickup p50/p99 ms", justify="right")
    for r in results:
        out.add_row(
            r.backend if r.error is None else f"{r.backend} [red](failed)[/red]",
            _rate(r.enqueue_one_per_s),
            _rate(r.enqueue_bulk_per_s),
            f"{_rate(r.processed_per_s_1proc)} ({_rate(r.processed_per_s_2procs)})",
            f"{_ms(r.pickup_p50_ms)} / {_ms(r.pickup_p99_ms)}",
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=None, help="tasks per run (20000)")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="sqlite,postgres")
    parser.add_argument("--quick", action="store_true", help="2,000 tasks, 50 latency samples")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown or not backends:
        parser.error(f"unknown backend(s) {unknown}; choose from {', '.join(BACKENDS)}")
    if args.tasks is not None and args.tasks < 1:
        parser.error("--tasks must be at least 1")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # so `bench.app` imports here as in the workers
    compile_sources()

    # A plain `kill` should clean up like Ctrl-C: stop the workers, drop the database.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    s = Settings.from_args(args.tasks, args.quick)
    info = machine()
    if info["load_average_1min"] > 0.5:
        err.print(
            f"[yellow]note:[/yellow] load average {info['load_average_1min']} before starting; "
            "other work on this machine will lower the numbers"
        )
    results = [run(backend, s) for backend in backends]
    info["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    if args.json:
        report = {
            "machine": info,
            "settings": asdict(s),
            "results": [asdict(r) for r in results],
        }
        print(json.dumps(report, indent=2))
    else:
        console = Console()
        console.print(table(results, info, s))
        for r in results:
            if r.error is not None:
                console.print(f"[red]{r.backend} failed:[/red] {r.error}", highlight=False)
    return 1 if any(r.error for r in results) else 0


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
