"""Random SIGKILLs of worker processes under load: no task lost, none left `running`
past its lease and one reaper interval, and a task runs twice only when the worker
running it was killed.

Kills are spread over the run by progress: kill i lands once 0.8·i/(kills+1) of the
tasks are completed, on a random worker that is up, and a replacement starts at once.
Recovery time of a kill: from the SIGKILL until every task the dead worker held is
back in other hands (requeued by the reaper, claimed again or finished).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import time
from dataclasses import dataclass, field

import psycopg
import pytest

from conveyor import Conveyor, Status
from tests.apps.sink import SinkFile
from tests.torture import sizes
from tests.torture.conftest import Record, StartTortureWorker
from tests.torture.processes import TortureWorker
from tests.torture.results import Result
from tests.waiting import wait_until

SIZE = sizes.current()
WORKERS = 4
CONCURRENCY = 8
LEASE = 2.0
REAP = 0.5
SLACK = 3.0
"""Scheduling delay allowed on a loaded two-core machine, on top of lease + reaper interval."""
TAKEOVER = 4 * REAP
"""When the worker holding the reaper duty dies, its duty lease (three reaper intervals)
runs out and the next try takes it: each such kill near a recovery adds this much."""
NAP = 0.02
SPREAD = 0.8


@dataclass
class Kill:
    at: float
    worker_id: str
    orphans: dict[str, str]  # task id -> key
    reaper: bool  # the dead worker held the reaper duty
    recovered_at: float | None = None


@dataclass
class Run:
    app: Conveyor
    store_url: str
    start: StartTortureWorker
    pool: list[TortureWorker]
    rng: random.Random
    kills: list[Kill] = field(default_factory=list)
    killed_pids: set[int] = field(default_factory=set)

    def completed(self) -> int:
        return self.counts().get("completed", 0)

    def finished(self) -> int:
        counts = self.counts()
        return counts.get("completed", 0) + counts.get("failed", 0)

    def counts(self) -> dict[str, int]:
        return {s.queue: s.counts for s in self.app.stats()}.get("default", {})

    def kill_one(self) -> bool:
        ready = [w for w in self.pool if w.alive() and w.ready()]
        if not ready:
            return False
        victim = self.rng.choice(ready)
        reaper = victim.owns(duty_holder(self.store_url, "reaper"))
        victim.process.send_signal(signal.SIGKILL)
        at = time.monotonic()
        victim.process.wait(10)
        self.killed_pids.add(victim.pid)
        self.pool.remove(victim)
        self.pool.append(self.start(concurrency=CONCURRENCY, lease=LEASE, reap_interval=REAP))
        # Taken after the process is gone, so the dead worker cannot claim anything more.
        held = [
            t
            for t in self.app.list_tasks(status="running", limit=1000).tasks
            if victim.owns(t.worker_id)
        ]
        worker_id = held[0].worker_id if held else ""
        orphans = {t.id: str(t.args[0]) for t in held}
        self.kills.append(Kill(at, worker_id or "", orphans, reaper))
        return True

    def check_recoveries(self) -> None:
        for kill in self.kills:
            if kill.recovered_at is not None:
                continue
            if all(not self._still_held(kill, task_id) for task_id in kill.orphans):
                kill.recovered_at = time.monotonic()

    def limit(self, kill: Kill) -> float:
        """How long the tasks of `kill` may stay `running`: lease + reaper interval, plus a
        takeover for each death of the reaper's holder that overlapped the wait."""
        end = kill.at + LEASE + REAP + SLACK
        deaths = [k for k in self.kills if k.reaper and kill.at - TAKEOVER <= k.at <= end]
        return LEASE + REAP + SLACK + TAKEOVER * len(deaths)

    def _still_held(self, kill: Kill, task_id: str) -> bool:
        task = self.app.get(task_id)
        return task.status is Status.RUNNING and task.worker_id == kill.worker_id


@pytest.mark.slow
@pytest.mark.timeout(1800 if SIZE.name == "full" else 150)
def test_random_sigkills_lose_nothing(
    app: Conveyor,
    sink: SinkFile,
    start_worker: StartTortureWorker,
    store_url: str,
    size: sizes.Sizes,
    record: Record,
    backend: str,
) -> None:
    seed = int(os.environ.get("CONVEYOR_TORTURE_SEED", time.time_ns() % 1_000_000))
    print(f"seed {seed} (CONVEYOR_TORTURE_SEED reruns it)")
    pool = [
        start_worker(concurrency=CONCURRENCY, lease=LEASE, reap_interval=REAP)
        for _ in range(WORKERS)
    ]
    run = Run(app, store_url, start_worker, pool, random.Random(seed))
    wait_until(lambda: all(w.ready() for w in pool), timeout=60, message="workers up")
    total = size.kill_tasks
    for first in range(0, total, 1000):
        app.enqueue_many(
            # One task may lose its worker to several kills in a row; with the usual three
            # attempts it would then rightly fail ("lease expired" each time), which is
            # not what this test is about.
            {"name": "nap", "args": [f"k{i}", NAP], "max_attempts": size.kills + 1}
            for i in range(first, min(total, first + 1000))
        )

    deadline = time.monotonic() + total / 20 + 60
    while time.monotonic() < deadline:
        done = run.completed()
        # Kills land over the first 80 % of the load, so the last ones still find work
        # even when replacements are slow to start.
        due = len(run.kills) < size.kills and done >= (len(run.kills) + 1) * SPREAD * total / (
            size.kills + 1
        )
        if due:
            run.kill_one()
        run.check_recoveries()
        if run.finished() == total and all(k.recovered_at is not None for k in run.kills):
            break
        time.sleep(0.05)

    result = judge(app, sink, run, total, backend)
    record(result)
    assert len(run.kills) == size.kills, f"only {len(run.kills)} kills landed"
    assert result.lost == 0, f"{result.lost} task(s) lost"
    assert result.stuck == 0, f"{result.stuck} task(s) held by a dead worker past the lease"
    dead_runs = [(key, pids) for key, pids in runs_by_key(sink).items() if len(pids) > 1]
    for key, pids in dead_runs:
        assert set(pids[:-1]) <= run.killed_pids, f"{key} ran twice without a kill: {pids}"
    orphaned = {key for kill in run.kills for key in kill.orphans.values()}
    assert {key for key, _ in dead_runs} <= orphaned, "a task ran twice though never orphaned"
    assert result.duplicates <= sum(len(kill.orphans) for kill in run.kills)


def duty_holder(store_url: str, duty: str) -> str | None:
    query = "SELECT holder FROM conveyor_duties WHERE name = "
    if store_url.startswith("sqlite:"):
        path = store_url.removeprefix("sqlite:///")
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
            row = conn.execute(query + "?", (duty,)).fetchone()
    else:
        with psycopg.connect(store_url) as pg:
            row = pg.execute(query + "%s", (duty,)).fetchone()
    return None if row is None else str(row[0])


def runs_by_key(sink: SinkFile) -> dict[str, list[int]]:
    runs: dict[str, list[int]] = {}
    for event, key, pid in sink.lines():
        if event == "run":
            runs.setdefault(key, []).append(pid)
    return runs


def judge(app: Conveyor, sink: SinkFile, run: Run, total: int, backend: str) -> Result:
    runs = runs_by_key(sink)
    completed = run.completed()
    never_ran = sum(1 for i in range(total) if f"k{i}" not in runs)
    orphaned = sum(len(k.orphans) for k in run.kills)
    stuck = sum(
        len(k.orphans)
        for k in run.kills
        if k.recovered_at is None or k.recovered_at - k.at > run.limit(k)
    )
    return Result(
        scenario="SIGKILL workers under load",
        backend=backend,
        load=f"{total:,} tasks, {WORKERS} workers x {CONCURRENCY} slots",
        faults=f"{len(run.kills)} SIGKILLs, {orphaned} tasks orphaned",
        lost=max(total - completed, never_ran),
        duplicates=sum(len(pids) - 1 for pids in runs.values()),
        stuck=stuck,
        recoveries=[k.recovered_at - k.at for k in run.kills if k.recovered_at is not None],
    )
