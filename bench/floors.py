"""Floors: issue 11's unmet targets beside what their step allows with Conveyor's own
Python taken out, all measured in one run on this machine.

    .venv/bin/python bench/floors.py [--quick] [--postgres-url URL]

A target is a rate (or a share of a raw-driver rate). For each, one row shows:

- **needs**: the rate that meets it, in this run (80% of the raw INSERT rate measured
  here, say);
- **floor**: the same step with everything of Conveyor's Python removed, but not what
  the step must do to keep Conveyor's guarantees;
- **Conveyor**: the step itself.

A floor below "needs" means that no change to Conveyor's Python can meet the target on
this machine; only a change to what the step must do (fewer indexes, no recorder in the
benchmark, another web framework) could. The floors:

- *enqueue one at a time, at least 80% of a raw single-row INSERT*: Conveyor's row (its
  22 values made beforehand) inserted into Conveyor's table by the raw driver, one
  autocommit statement each; what remains is the table's row width and indexes;
- *enqueue in bulk on SQLite, at least 100,000/s*: the same rows, made beforehand, in the
  store's own 50-row INSERT statements, 1,000 rows a transaction;
- *process on SQLite at 20,000/s, on PostgreSQL at 40% of raw claim 100 + ack*: the
  worker's handler threads (concurrency 10) running the benchmark's recording no-op on
  tasks claimed beforehand, with no store at all;
- *HTTP, 2,000 single enqueues/s and 20,000 tasks/s in batches on PostgreSQL*: FastAPI
  with the same routes, body models and a scope dependency, storing nothing
  (bench/floor_api.py), under the same load.

The Conveyor figures are measured the same way as the floor beside them: the worker in
this process (no start-up), the HTTP server under the same client. bench/README.md
("Floors") says what the last run showed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import http_enqueue as he
from bench import throughput as tp
from bench.peers import raw
from bench.peers.common import OUT_ENV, Recorder, Settings, data, record

from conveyor import Conveyor
from conveyor.core.task import Claimed
from conveyor.store import enqueue_rows, open_store, workflows
from conveyor.store.base import Store
from conveyor.tasks import TaskFunction
from conveyor.worker.config import WorkerConfig
from conveyor.worker.executor import Attempt, HandlerExecutor
from conveyor.worker.runtime import Worker

CONCURRENCY = 10
BATCH = 1_000
err = Console(stderr=True, highlight=False)


@dataclass(frozen=True, slots=True)
class Row:
    target: str
    needs: float
    floor: float
    conveyor: float


# -- the rows of Conveyor's table, made beforehand ------------------------------------------


def made_rows(
    app: Conveyor, noop: TaskFunction[..., None], queue: str, n: int, now: Any
) -> list[Any]:
    """`n` rows of Conveyor's table for `noop` tasks on `queue`, as the store would write
    them (`enqueue_rows`, the built-in defaults), made before anything is timed."""
    bound = noop.options(queue=queue)
    news = [bound.s(data(i)).new_task() for i in range(n)]
    graph = workflows.plan(news)
    return enqueue_rows.rows(news, graph, {}, now, lambda _: now)


INSERT = "INSERT INTO conveyor_tasks ({}) VALUES ({})"


def sqlite_floors(
    app: Conveyor, noop: TaskFunction[..., None], path: Path, n: int
) -> tuple[float, float]:
    """Conveyor's rows by raw sqlite3: one autocommit INSERT each, then 1,000 a
    transaction in the store's own 50-row statements."""
    from conveyor.store.sqlite.store import _insert_rows

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=NORMAL")
        columns = enqueue_rows.COLUMNS
        statement = INSERT.format(", ".join(columns), ", ".join("?" * len(columns)))
        single = made_rows(app, noop, "floor-one", n, time.time())
        start = time.perf_counter()
        for row in single:
            conn.execute(statement, row)
        one = n / (time.perf_counter() - start)
        bulk = made_rows(app, noop, "floor-bulk", n, time.time())
        elapsed = 0.0
        for first in range(0, n, BATCH):
            start = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            _insert_rows(conn, bulk[first : first + BATCH])
            conn.execute("COMMIT")
            elapsed += time.perf_counter() - start
        return one, n / elapsed
    finally:
        conn.close()


def postgres_floor(app: Conveyor, noop: TaskFunction[..., None], url: str, n: int) -> float:
    """Conveyor's rows by raw psycopg: one autocommit INSERT each, one round trip."""
    from datetime import UTC, datetime

    import psycopg

    columns = enqueue_rows.COLUMNS
    statement = INSERT.format(", ".join(columns), ", ".join(["%s"] * len(columns)))
    rows = made_rows(app, noop, "floor-one", n, datetime.now(UTC))
    with psycopg.connect(url, autocommit=True) as conn:
        start = time.perf_counter()
        for row in rows:
            conn.execute(statement, row)
        return n / (time.perf_counter() - start)


# -- processing -----------------------------------------------------------------------------


def claimed_beforehand(
    store: Store, app: Conveyor, noop: TaskFunction[..., None], n: int
) -> list[Claimed]:
    tp.enqueue_bulk(app, noop, "floor-dispatch", tp.Settings(n, n, BATCH, CONCURRENCY, 0, 0.0))
    claimed: list[Claimed] = []
    while len(claimed) < n:
        claimed += store.claim(["floor-dispatch"], BATCH, "floors", 3600)
    return claimed


def dispatch_floor(app: Conveyor, claimed: list[Claimed]) -> float:
    """Tasks/s through the worker's handler threads alone: each return starts the next
    task, `CONCURRENCY` at a time, and nothing is claimed or acknowledged."""

    async def run() -> float:
        executor = HandlerExecutor(app.registry, "floors", 2 * CONCURRENCY)
        pending = iter(claimed)
        finished = asyncio.Event()
        done = 0

        def returned(attempt: Attempt) -> None:
            nonlocal done
            executor.outcome(attempt.claimed, attempt)
            done += 1
            following = next(pending, None)
            if following is not None:
                executor.start(following, returned)
            elif done == len(claimed):
                finished.set()

        start = time.perf_counter()
        for _ in range(CONCURRENCY):
            executor.start(next(pending), returned)
        await finished.wait()
        elapsed = time.perf_counter() - start
        executor.close()
        return len(claimed) / elapsed

    return asyncio.run(run())


def drain(store: Store, app: Conveyor, noop: TaskFunction[..., None], n: int) -> float:
    """Tasks/s of a `Worker` in this process (no start-up) draining `n` queued tasks."""
    tp.enqueue_bulk(app, noop, "floor-drain", tp.Settings(n, n, BATCH, CONCURRENCY, 0, 0.0))

    async def run() -> float:
        worker = Worker(
            store, app.registry, ["floor-drain"], WorkerConfig(concurrency=CONCURRENCY), duties=[]
        )
        start = time.perf_counter()
        running = asyncio.create_task(worker.run())
        while worker.processed < n:
            if running.done():
                running.result()
                raise RuntimeError("the worker stopped before the queue was drained")
            await asyncio.sleep(0.002)
        elapsed = time.perf_counter() - start
        worker.stop()
        await running
        return n / elapsed

    return asyncio.run(run())


def processing(url: str, n: int, folder: Path) -> tuple[float, float]:
    """(dispatch floor, Conveyor's drain) on the store at `url`, with the recording no-op."""
    os.environ[OUT_ENV] = str(Recorder(folder, f"floors-{uuid_hex()}").path)
    app = Conveyor()
    store = open_store(url, migrate=True)
    app.use_store(store)
    noop = app.task(name="bench.floors.noop", queue="floor")(record)
    try:
        drained = drain(store, app, noop, n)  # first, on an empty store, as a worker finds it
        gc.collect()
        return dispatch_floor(app, claimed_beforehand(store, app, noop, n)), drained
    finally:
        app.close()


def uuid_hex() -> str:
    import uuid

    return uuid.uuid4().hex[:8]


# -- HTTP -----------------------------------------------------------------------------------


@contextlib.contextmanager
def floor_server() -> Iterator[he.Server]:
    port = he.free_port()
    script = Path(__file__).resolve().parent / "floor_api.py"
    env = {**os.environ, "PYTHONPATH": str(tp.ROOT)}
    process = subprocess.Popen([sys.executable, str(script), str(port)], env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the FastAPI floor server did not start")
            time.sleep(0.05)
        yield he.Server(f"http://127.0.0.1:{port}", process.pid)
    finally:
        process.terminate()
        process.wait(10)


def http(postgres_url: str, seconds: float) -> tuple[he.Load, he.Load, he.Load, he.Load]:
    """(floor single, floor batch, Conveyor single, Conveyor batch), same client."""
    with floor_server() as target:
        floor_one = he.load(target, "floor", seconds, 32, 1)
        floor_batch = he.load(target, "floor-batch", seconds, 32, he.BATCH)
    with tp.postgres_backend(postgres_url) as (url, _), he.server(url) as target:
        one = he.load(target, "http", seconds, 32, 1)
        batch = he.load(target, "http-batch", seconds, 32, he.BATCH)
    return floor_one, floor_batch, one, batch


# -- the run --------------------------------------------------------------------------------


def measure(n: int, postgres_url: str, seconds: float) -> list[Row]:
    tp.compile_sources()
    s = Settings(tasks=n, single=n, samples=0, postgres_url=postgres_url)
    rows: list[Row] = []
    err.print("raw drivers")
    raw_pg = raw.postgres(s)
    raw_sqlite = raw.sqlite(s, "normal")
    assert raw_pg.enqueue_one_per_s and raw_sqlite.enqueue_one_per_s
    assert raw_pg.processed_per_s_1proc

    with tempfile.TemporaryDirectory(prefix="bench-floors-") as name:
        folder = Path(name)
        err.print("SQLite: enqueues")
        with tp.sqlite_backend() as (url, _):
            app = Conveyor()
            app.use_store(open_store(url, migrate=True))
            noop = app.task(name="bench.floors.noop", queue="floor")(record)
            one = tp.enqueue_one(noop, n)
            bulk = tp.enqueue_bulk(app, noop, "bulk", tp.Settings(n, n, BATCH, CONCURRENCY, 0, 0.0))
            floor_one, floor_bulk = sqlite_floors(
                app, noop, Path(url.removeprefix("sqlite:///")), n
            )
            app.close()
        rows.append(
            Row(
                "SQLite one at a time ≥ 80% of raw INSERT",
                0.8 * raw_sqlite.enqueue_one_per_s,
                floor_one,
                one,
            )
        )
        rows.append(Row("SQLite bulk ≥ 100,000/s", 100_000, floor_bulk, bulk))
        err.print("SQLite: processing")
        with tp.sqlite_backend() as (url, _):
            dispatch, drained = processing(url, n, folder)
        rows.append(Row("SQLite processed ≥ 20,000/s", 20_000, dispatch, drained))

        err.print("PostgreSQL: enqueues and processing")
        with tp.postgres_backend(postgres_url) as (url, _):
            app = Conveyor()
            app.use_store(open_store(url, migrate=True))
            noop = app.task(name="bench.floors.noop", queue="floor")(record)
            one = tp.enqueue_one(noop, n)
            floor_one = postgres_floor(app, noop, url, n)
            app.close()
            dispatch, drained = processing(url, n, folder)
        rows.append(
            Row(
                "PostgreSQL one at a time ≥ 80% of raw INSERT",
                0.8 * raw_pg.enqueue_one_per_s,
                floor_one,
                one,
            )
        )
        rows.append(
            Row(
                "PostgreSQL processed ≥ 40% of raw claim 100 + ack",
                0.4 * raw_pg.processed_per_s_1proc,
                dispatch,
                drained,
            )
        )

    err.print("HTTP")
    floor_one_http, floor_batch_http, one_http, batch_http = http(postgres_url, seconds)
    rows.append(
        Row(
            "HTTP single ≥ 2,000/s (PostgreSQL)",
            2_000,
            floor_one_http.tasks_per_s,
            one_http.tasks_per_s,
        )
    )
    rows.append(
        Row(
            "HTTP batches ≥ 20,000 tasks/s (PostgreSQL)",
            20_000,
            floor_batch_http.tasks_per_s,
            batch_http.tasks_per_s,
        )
    )
    return rows


def table(rows: list[Row]) -> Table:
    out = Table(title="Issue 11's unmet targets and their floors on this machine (tasks/s)")
    for column in ("target", "needs", "floor", "Conveyor", "Conveyor / floor", "floor meets it"):
        out.add_column(column, justify="left" if column == "target" else "right")
    for r in rows:
        out.add_row(
            r.target,
            f"{r.needs:,.0f}",
            f"{r.floor:,.0f}",
            f"{r.conveyor:,.0f}",
            f"{r.conveyor / r.floor:.2f}",
            "yes" if r.floor >= r.needs else "no",
        )
    out.caption = (
        "needs: the rate that meets the target in this run. floor: the step with Conveyor's "
        "Python taken out (see the docstring). The floor is an upper bound on Conveyor."
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 tasks and 3 s loads")
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CONVEYOR_BENCH_POSTGRES_URL", tp.DEFAULT_POSTGRES_URL),
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    args = parser.parse_args()
    n = 2_000 if args.quick else args.tasks
    rows = measure(n, args.postgres_url, 3.0 if args.quick else 10.0)
    Console(width=160).print(table(rows))
    if args.json:
        print(json.dumps([asdict(r) for r in rows]))


if __name__ == "__main__":
    main()
