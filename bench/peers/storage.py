"""Bounded storage under a steady load, for `run.py --only storage` (Conveyor only).

For `seconds` (600 by default), on PostgreSQL and on SQLite (normal) side by side: a
producer thread enqueues at a steady rate, one real `conveyor worker` processes, and its
pruner deletes finished tasks past a short retention (set on the queue; the worker's
`--prune-interval` says how often). Every ~10 s the store's size is sampled. Storage is
bounded when the largest size of the run's second half is within 10% of the first
half's: retention keeps the live rows constant, and (on PostgreSQL) vacuum lets new row
versions reuse the space of dead ones instead of extending the table.

When the server runs with `autovacuum = off`, nothing would ever vacuum; the harness
then stands in for the autovacuum launcher (see `VacuumStandIn`) so that the run still
shows what the tables' own autovacuum settings achieve, and says so in the results.
"""

from __future__ import annotations

import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.peers import conveyor_system
from bench.peers.common import Recorder, Settings, data, workers

if TYPE_CHECKING:
    from conveyor import Conveyor
    from conveyor.tasks import TaskFunction

QUEUE = "sustained"
BOUND = 0.10
NAPTIMES = 3
"""A PostgreSQL run shorter than this many autovacuum naptimes is too short to judge."""
TABLES = ("conveyor_tasks", "conveyor_dependencies")


@dataclass(frozen=True, slots=True)
class Plan:
    seconds: float
    rate: float
    """Tasks enqueued per second, in ten batches a second."""
    retention: float
    """Seconds a finished task is kept (the queue's completed and failed retention)."""
    prune_interval: float
    sample_every: float

    @classmethod
    def of(cls, seconds: float, rate: float) -> Plan:
        # Retention and pruning short against the run, so most of it is steady state.
        return cls(
            seconds=seconds,
            rate=rate,
            retention=max(5.0, seconds / 20),
            prune_interval=max(2.0, seconds / 60),
            sample_every=min(10.0, max(5.0, seconds / 60)),
        )


class Producer(threading.Thread):
    """Enqueues `rate` tasks a second, a tenth of them every 100 ms, until stopped.

    Each 100 ms batch starts with one two-step chain (a tenth of the tasks at 200/s), so
    that the dependencies table sees its own churn: an edge inserted, settled, deleted.
    """

    def __init__(self, url: str, rate: float) -> None:
        super().__init__(name="storage-producer", daemon=True)
        self.url, self.rate = url, rate
        self.enqueued = 0
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        from bench.peers.conveyor_app import producer

        app, noop = producer(self.url, QUEUE)

        tick = time.monotonic()
        try:
            while not self.stop.is_set():
                due = round(self.rate * (time.monotonic() - tick + 0.1)) - self.enqueued
                if due > 0:
                    self.send(app, noop, due)
                self.stop.wait(max(0.0, tick + (self.enqueued / self.rate) - time.monotonic()))
        except BaseException as exc:
            self.error = exc
        finally:
            app.close()

    def send(self, app: Conveyor, noop: TaskFunction[..., None], due: int) -> None:
        from conveyor import chain

        n = self.enqueued
        if due >= 2:
            # Immutable signatures: the second step gets its own argument, not None.
            chain(noop.si(data(n)), noop.si(data(n + 1))).enqueue()
            n += 2
        if n < self.enqueued + due:
            app.enqueue_many([noop.s(data(i)) for i in range(n, self.enqueued + due)])
        self.enqueued += due


# -- PostgreSQL: sizes, and vacuum when the server's autovacuum is off ----------------------


SIZES = """
SELECT pg_total_relation_size(c.oid), pg_relation_size(c.oid), pg_indexes_size(c.oid),
       s.n_live_tup, s.n_dead_tup, s.vacuum_count + s.autovacuum_count
FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE c.relname = %s
"""
ROWS = """
SELECT count(*) FILTER (WHERE status = 'queued'),
       count(*) FILTER (WHERE finished_at IS NOT NULL)
FROM conveyor_tasks
"""


def postgres_sample(conn: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for table in TABLES:
        total, heap, indexes, live, dead, vacuums = conn.execute(SIZES, (table,)).fetchone()
        out[table] = {
            "total": total,
            "heap": heap,
            "indexes": indexes,
            "live_rows": live,
            "dead_rows": dead,
            "vacuums": vacuums,
        }
    queued, finished = conn.execute(ROWS).fetchone()
    out["queued"], out["finished"] = queued, finished
    return out


AUTOVACUUM = """
SELECT name, setting FROM pg_settings WHERE name IN (
    'autovacuum', 'autovacuum_naptime', 'autovacuum_vacuum_threshold',
    'autovacuum_vacuum_scale_factor', 'autovacuum_vacuum_insert_threshold',
    'autovacuum_vacuum_insert_scale_factor', 'autovacuum_analyze_threshold',
    'autovacuum_analyze_scale_factor')
"""
RELOPTIONS = "SELECT coalesce(reloptions, '{}') FROM pg_class WHERE relname = %s"
DUE = """
SELECT n_dead_tup, n_ins_since_vacuum, n_mod_since_analyze,
       greatest(c.reltuples, 0)::float8
FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid WHERE s.relname = %s
"""


def autovacuum_settings(conn: Any) -> dict[str, Any]:
    """The server's autovacuum settings, and each table's own (its reloptions)."""
    server = {name: setting for name, setting in conn.execute(AUTOVACUUM).fetchall()}
    tables = {}
    for table in TABLES:
        options = conn.execute(RELOPTIONS, (table,)).fetchone()[0]
        tables[table] = dict(o.split("=", 1) for o in options)
    return {"server": server, "tables": tables}


class VacuumStandIn(threading.Thread):
    """What the autovacuum launcher would do, for a server that runs with it off.

    Every `autovacuum_naptime`, each table gets VACUUM when its dead rows (or rows
    inserted since its last vacuum) pass the threshold autovacuum would use (the table's
    own reloptions first, the server's settings else), and ANALYZE when its changes since
    the last analyze do. A manual VACUUM has no cost-based delay, as Conveyor's tasks table
    asks of autovacuum too (`autovacuum_vacuum_cost_delay = 0`).
    """

    def __init__(self, url: str, settings: dict[str, Any]) -> None:
        super().__init__(name="vacuum-stand-in", daemon=True)
        self.url, self.settings = url, settings
        self.naptime = float(settings["server"]["autovacuum_naptime"])
        self.runs: list[dict[str, Any]] = []
        self.started = time.monotonic()
        self.stop = threading.Event()

    def limit(self, table: str, kind: str, rows: float) -> float:
        own, server = self.settings["tables"][table], self.settings["server"]

        def setting(name: str) -> float:
            return float(own.get(name, server[name]))

        return (
            setting(f"autovacuum_{kind}_threshold")
            + setting(f"autovacuum_{kind}_scale_factor") * rows
        )

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.wait(self.naptime):
                for table in TABLES:
                    self.maybe_vacuum(conn, table)

    def maybe_vacuum(self, conn: Any, table: str) -> None:
        dead, inserted, modified, rows = conn.execute(DUE, (table,)).fetchone()
        vacuum = dead > self.limit(table, "vacuum", rows) or inserted > self.limit(
            table, "vacuum_insert", rows
        )
        analyze = modified > self.limit(table, "analyze", rows)
        if not (vacuum or analyze):
            return
        start = time.monotonic()
        conn.execute(f"{'VACUUM (ANALYZE)' if vacuum else 'ANALYZE'} {table}")
        self.runs.append(
            {
                "at": round(start - self.started, 1),
                "table": table,
                "what": "vacuum" if vacuum else "analyze",
                "dead_rows": dead,
                "seconds": round(time.monotonic() - start, 2),
            }
        )


# -- SQLite: the database file and its write-ahead log -------------------------------------


def sqlite_sample(path: Path) -> dict[str, Any]:
    wal = path.with_name(path.name + "-wal")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as conn:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        queued, finished = conn.execute(ROWS).fetchone()
    conn.close()
    file_bytes = path.stat().st_size
    wal_bytes = wal.stat().st_size if wal.exists() else 0
    return {
        "total": file_bytes + wal_bytes,
        "file": file_bytes,
        "wal": wal_bytes,
        "free": free * page,
        "queued": queued,
        "finished": finished,
    }


# -- one backend's run ---------------------------------------------------------------------


def total_bytes(sample: dict[str, Any]) -> int:
    if "conveyor_tasks" in sample:
        return sum(int(sample[t]["total"]) for t in TABLES)
    return int(sample["total"])


def verdict(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Largest size of the first half of the run against the largest of the second."""
    half = samples[-1]["t"] / 2
    first = max((total_bytes(s) for s in samples if s["t"] <= half), default=0)
    second = max((total_bytes(s) for s in samples if s["t"] > half), default=0)
    growth = second / first - 1 if first else None
    return {
        "first_half_max": first,
        "second_half_max": second,
        "growth": None if growth is None else round(growth, 4),
        "bounded": growth is not None and growth <= BOUND,
    }


def _set_retention(url: str, plan: Plan) -> None:
    from conveyor.core.queue import QueueSettings
    from conveyor.store import open_store

    store = open_store(url, migrate=True)
    try:
        store.set_queue(
            QueueSettings(
                name=QUEUE, completed_retention=plan.retention, failed_retention=plan.retention
            )
        )
    finally:
        store.close()


def sustain(
    url: str,
    sample: Callable[[], dict[str, Any]],
    plan: Plan,
    s: Settings,
    folder: Path,
) -> dict[str, Any]:
    """Producer, worker and pruner for `plan.seconds`; a size sample every few seconds."""
    rec = Recorder(folder, QUEUE)
    command = conveyor_system.worker_command(
        url, QUEUE, s.concurrency, "--prune-interval", str(plan.prune_interval)
    )
    producer = Producer(url, plan.rate)
    samples: list[dict[str, Any]] = []
    with workers(command, 1, rec.path) as running:
        producer.start()
        started = time.monotonic()
        try:
            while (t := time.monotonic() - started) < plan.seconds:
                samples.append(
                    {"t": round(t, 1), "enqueued": producer.enqueued, "processed": rec.count()}
                    | sample()
                )
                _check(running[0], producer)
                time.sleep(max(0.0, started + len(samples) * plan.sample_every - time.monotonic()))
        finally:
            producer.stop.set()
            producer.join()
    return {"samples": samples, **verdict(samples)}


def _check(worker: Any, producer: Producer) -> None:
    if worker.process.poll() is not None:
        raise RuntimeError(f"worker exited with {worker.process.returncode}:\n{worker.tail()}")
    if producer.error is not None:
        raise RuntimeError(f"producer failed: {producer.error!r}")


def postgres_run(plan: Plan, s: Settings, folder: Path) -> dict[str, Any]:
    import psycopg
    from bench import throughput as tp

    with tp.postgres_backend(s.postgres_url) as (url, _probe):
        _set_retention(url, plan)
        with psycopg.connect(url, autocommit=True) as conn:
            settings = autovacuum_settings(conn)
            stand_in = None
            if settings["server"]["autovacuum"] == "off":
                stand_in = VacuumStandIn(url, settings)
                stand_in.start()
            try:
                out = sustain(url, lambda: postgres_sample(conn), plan, s, folder)
            finally:
                if stand_in is not None:
                    stand_in.stop.set()
                    stand_in.join()
    out["autovacuum"] = settings
    naptime = float(settings["server"]["autovacuum_naptime"])
    if plan.seconds < NAPTIMES * naptime:
        # The first vacuum comes a naptime in: before a few of them there is no steady state.
        out["bounded"] = None
        out["note"] = f"< {NAPTIMES} x {naptime:.0f} s autovacuum_naptime"
    out["vacuum_by"] = "autovacuum" if stand_in is None else "harness (server autovacuum off)"
    out["harness_vacuums"] = stand_in.runs if stand_in is not None else []
    return out


def sqlite_run(plan: Plan, s: Settings, folder: Path) -> dict[str, Any]:
    from bench import throughput as tp

    with tp.sqlite_backend() as (url, _probe):
        _set_retention(url, plan)
        path = Path(url.removeprefix("sqlite:///"))
        return sustain(f"{url}?synchronous=normal", lambda: sqlite_sample(path), plan, s, folder)


RUNS: dict[str, Callable[[Plan, Settings, Path], dict[str, Any]]] = {
    "conveyor-postgres": postgres_run,
    "conveyor-sqlite-normal": sqlite_run,
}


def measure(seconds: float, rate: float, s: Settings, log: Callable[[str], None]) -> dict[str, Any]:
    """Both backends at once, so the run takes `seconds` and not twice that."""
    plan = Plan.of(seconds, rate)
    log(
        f"[bold]storage[/bold]: {seconds:.0f} s at {rate:.0f} tasks/s, retention "
        f"{plan.retention:.0f} s, prune every {plan.prune_interval:.0f} s (PostgreSQL and SQLite)"
    )
    out: dict[str, Any] = {"plan": asdict(plan)}
    with (
        tempfile.TemporaryDirectory(prefix="bench-storage-") as folder,
        ThreadPoolExecutor(len(RUNS)) as pool,
    ):
        futures = {
            name: pool.submit(_guarded, run, plan, s, Path(folder) / name)
            for name, run in RUNS.items()
        }
        for name, future in futures.items():
            out[name] = future.result()
    return out


def _guarded(
    run: Callable[[Plan, Settings, Path], dict[str, Any]], plan: Plan, s: Settings, folder: Path
) -> dict[str, Any]:
    folder.mkdir()
    try:
        return run(plan, s, folder)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
