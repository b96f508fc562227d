"""Cron schedules: each tick is enqueued exactly once, by any number of nodes.

Pure rules first (next fire, misfire policies, DST, tick keys), then the duty through
`run_once(store, now)` on both backends, then three real worker processes.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conveyor import Conveyor
from conveyor.core.cron import Every, Misfire, due_ticks, tick_key
from conveyor.core.task import Task
from conveyor.errors import ConfigurationError
from conveyor.scheduler.cron import Cron
from conveyor.schedules import CronRule
from conveyor.store import Store, open_store
from conveyor.store.base import TaskFilter
from conveyor.worker.config import WorkerConfig
from conveyor.worker.runtime import default_duties
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
CONVEYOR = str(Path(sys.executable).with_name("conveyor"))
T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def stamp(seconds: float) -> float:
    return at(seconds).timestamp()


def seconds(ticks: list[datetime]) -> list[float]:
    return [(t - T0).total_seconds() for t in ticks]


def ticks_in(store: Store) -> list[Task]:
    tasks = store.list(TaskFilter(name="tick"), limit=1000).tasks
    return sorted(tasks, key=lambda t: t.idempotency_key or "")


# -- pure rules ------------------------------------------------------------------------


def test_every_is_aligned_to_the_epoch_so_nodes_agree() -> None:
    rule = Every(30)
    assert rule.next_after(at(7)) == at(30)
    assert rule.next_after(at(30)) == at(60)
    assert rule.latest_at_or_before(at(30)) == at(30)
    assert rule.latest_at_or_before(at(29.9)) == at(0)


def test_on_time_ticks_all_fire() -> None:
    assert seconds(due_ticks(Every(1), at(10), at(12))) == [11, 12]
    assert due_ticks(Every(1), at(12), at(12.5)) == []


def test_due_ticks_collapse_a_missed_stretch_into_one_under_once() -> None:
    ticks = due_ticks(Every(1), at(0), at(3600), Misfire.ONCE, grace=2)
    assert seconds(ticks) == [3598, 3599, 3600]


def test_due_ticks_drop_a_missed_stretch_under_skip() -> None:
    ticks = due_ticks(Every(1), at(0), at(3600), Misfire.SKIP, grace=2)
    assert seconds(ticks) == [3599, 3600]
    hourly = CronRule("0 * * * *")
    assert due_ticks(hourly, at(0), at(5 * 3600 + 60), Misfire.SKIP) == []
    assert due_ticks(hourly, at(0), at(5 * 3600 + 60), Misfire.ONCE) == [at(5 * 3600)]


def test_a_fresh_node_offers_the_newest_missed_tick_under_once() -> None:
    hourly = CronRule("0 * * * *")
    assert due_ticks(hourly, None, at(1800), Misfire.ONCE) == [at(0)]
    assert due_ticks(hourly, None, at(1800), Misfire.SKIP) == []


def test_cron_fields_are_read_in_the_schedule_timezone_across_dst() -> None:
    rule = CronRule("0 3 * * *", "Europe/Berlin")
    before = datetime(2026, 3, 28, 12, tzinfo=UTC)
    first = rule.next_after(before)
    second = rule.next_after(first)
    assert first.astimezone(UTC) == datetime(2026, 3, 29, 1, tzinfo=UTC)  # CEST, UTC+2
    assert second.astimezone(UTC) == datetime(2026, 3, 30, 1, tzinfo=UTC)
    winter = rule.next_after(datetime(2026, 10, 25, 0, tzinfo=UTC))
    assert winter.astimezone(UTC) == datetime(2026, 10, 25, 2, tzinfo=UTC)  # CET, UTC+1


def test_tick_key_is_the_same_in_every_zone() -> None:
    berlin = CronRule("0 3 * * *", "Europe/Berlin").next_after(at(0))
    assert tick_key("report", berlin) == tick_key("report", berlin.astimezone(UTC))
    assert tick_key("report", berlin) == "cron:report:2026-01-02T02:00:00Z"


def test_periodic_refuses_bad_schedules(tmp_path: Path) -> None:
    app = Conveyor(f"sqlite:///{tmp_path}/q.db")

    @app.task
    def job() -> None: ...

    with pytest.raises(ConfigurationError, match="exactly one"):
        app.periodic()(job)
    with pytest.raises(ConfigurationError, match="invalid cron expression"):
        app.periodic(cron="every minute")(job)
    with pytest.raises(ConfigurationError, match="unknown timezone"):
        app.periodic(cron="* * * * *", timezone="Mars/Olympus")(job)
    with pytest.raises(ConfigurationError, match=r"every must be a number of seconds from 0\.1"):
        app.periodic(every=0)(job)
    app.periodic(every=timedelta(seconds=30))(job)
    with pytest.raises(ConfigurationError, match="already registered"):
        app.periodic(every=60)(job)


# -- the duty over a real store --------------------------------------------------------


@pytest.fixture
def app(store_url: str) -> Iterator[Conveyor]:
    built = Conveyor(store_url)

    @built.periodic(every=1, args=[7], queue="cron")
    @built.task
    def tick(n: int) -> int:
        return n

    yield built
    built.close()


def duty(app: Conveyor) -> Cron:
    return Cron(tuple(app.registry.schedules()))


def test_each_tick_is_enqueued_once_with_its_key(app: Conveyor) -> None:
    cron = duty(app)
    cron.run_once(app.store, now=stamp(10))
    for now in (10.5, 11, 11.2, 12, 12, 13.9):
        cron.run_once(app.store, now=stamp(now))

    tasks = ticks_in(app.store)
    keys = [t.idempotency_key for t in tasks]
    assert keys == [tick_key("tick", at(s)) for s in (8, 9, 10, 11, 12, 13)]
    assert {(t.queue, tuple(t.args)) for t in tasks} == {("cron", (7,))}


def test_a_missed_stretch_fires_once_under_once(app: Conveyor) -> None:
    cron = duty(app)
    cron.run_once(app.store, now=stamp(10))
    cron.run_once(app.store, now=stamp(600))

    keys = [t.idempotency_key for t in ticks_in(app.store)]
    late = [tick_key("tick", at(s)) for s in (598, 599, 600)]
    assert keys[-3:] == late
    assert len(keys) == 3 + 3


def test_a_missed_stretch_is_dropped_under_skip(store_url: str) -> None:
    app = Conveyor(store_url)
    try:

        @app.periodic(every=60, misfire="skip")
        @app.task
        def tick() -> None: ...

        cron = duty(app)
        assert cron.run_once(app.store, now=stamp(0)) == 1
        assert cron.run_once(app.store, now=stamp(3600 + 30)) == 0
        assert cron.run_once(app.store, now=stamp(3600 + 60)) == 1
        keys = [t.idempotency_key for t in ticks_in(app.store)]
        assert keys == [tick_key("tick", at(0)), tick_key("tick", at(3660))]
    finally:
        app.close()


def test_two_nodes_racing_store_each_tick_once(app: Conveyor, store_url: str) -> None:
    stores = [open_store(store_url) for _ in range(2)]
    duties = [duty(app) for _ in stores]
    start = threading.Barrier(2)

    def node(i: int) -> None:
        start.wait()
        for step in range(40):
            duties[i].run_once(stores[i], now=stamp(100 + step * 0.25))

    threads = [threading.Thread(target=node, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for store in stores:
        store.close()

    keys = [t.idempotency_key for t in ticks_in(app.store)]
    assert keys == [tick_key("tick", at(s)) for s in range(98, 110)]


def test_workers_and_servers_always_run_the_cron_duty_for_stored_schedules(
    app: Conveyor,
) -> None:
    with_schedules = default_duties(WorkerConfig(), app.registry.schedules())
    assert [d.name for d in with_schedules] == ["cron", "reaper", "pruner"]
    assert [d.name for d in default_duties(WorkerConfig())] == ["cron", "reaper", "pruner"]


def test_schedules_list_their_next_run(app: Conveyor) -> None:
    [info] = app.schedules(now=at(10.5))
    assert info.schedule.name == "tick"
    assert info.next_run == at(11)


# -- real processes --------------------------------------------------------------------


SOAK_SECONDS = float(os.environ.get("CONVEYOR_CRON_SOAK_SECONDS", "6"))
"""How long three nodes race on a per-second schedule: short in `make test`, three
minutes in `make soak`."""


@pytest.mark.timeout(SOAK_SECONDS + 60)
def test_three_workers_fire_each_second_once(store_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "CONVEYOR_URL": store_url}
    logs = [tmp_path / f"worker-{i}.log" for i in range(3)]
    workers = []
    for log in logs:
        with log.open("wb") as out:
            command = [CONVEYOR, "worker", "tests.apps.ticker:app", "--url", store_url]
            workers.append(
                subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
            )
    store = open_store(store_url)
    try:
        wait_until(lambda: len(ticks_in(store)) >= 1, timeout=15, message="the first tick")
        began = time.monotonic()
        wait_until(
            lambda: time.monotonic() - began >= SOAK_SECONDS,
            timeout=SOAK_SECONDS + 5,
            interval=0.2,
        )
        tasks = ticks_in(store)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(15)
        store.close()

    keys = [t.idempotency_key or "" for t in tasks]
    assert len(keys) == len(set(keys))
    fired = sorted(datetime.fromisoformat(k.removeprefix("cron:tick:")) for k in keys)
    gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(fired)}
    logs_text = "\n".join(log.read_text(errors="replace")[-3000:] for log in logs)
    assert gaps == {1.0}, logs_text
    assert len(fired) >= SOAK_SECONDS, logs_text
