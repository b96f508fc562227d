"""Workflows run by real worker processes: results flow, failures propagate, crashes
leave exactly one callback."""

from __future__ import annotations

import pytest

from conveyor import Conveyor, Status, TaskCancelled, chain, chord, group
from tests.apps import sink as tasks
from tests.apps.sink import SinkFile
from tests.crash.conftest import StartWorker
from tests.waiting import wait_until


def test_a_chain_passes_each_result_to_the_next_step(
    app: Conveyor, start_worker: StartWorker
) -> None:
    add = app.task(tasks.add)
    start_worker()
    handle = chain(add.s(1, 2), add.s(10), add.s(100)).enqueue()

    assert handle.wait(timeout=20) == 113
    assert [app.get(t.id).args for t in handle.tasks] == [[1, 2], [3, 10], [13, 100]]
    assert handle.progress() == (3, 0, 3)


def test_a_group_collects_results_in_order_and_reports_progress(
    app: Conveyor, start_worker: StartWorker
) -> None:
    add = app.task(tasks.add)
    handle = group([add.s(i, i) for i in range(6)]).enqueue()
    assert handle.progress() == (0, 0, 6)
    start_worker(concurrency=3)

    assert handle.wait(timeout=20) == [0, 2, 4, 6, 8, 10]
    assert handle.progress() == (6, 0, 6)


def test_a_chord_callback_gets_every_result_in_member_order(
    app: Conveyor, start_worker: StartWorker, sink: SinkFile
) -> None:
    add, collect = app.task(tasks.add), app.task(tasks.collect)
    start_worker(concurrency=4)
    handle = chord(group([add.s(i, 1) for i in range(5)]), collect.s()).enqueue()

    assert handle.wait(timeout=20) == [1, 2, 3, 4, 5]
    assert sink.run_counts()["collect"] == 1


def test_a_failed_link_cancels_the_rest_naming_it(app: Conveyor, start_worker: StartWorker) -> None:
    add, explode = app.task(tasks.add), app.task(max_attempts=1)(tasks.explode)
    start_worker()
    handle = chain(explode.s("link"), add.s(1), add.s(2)).enqueue()

    with pytest.raises(TaskCancelled, match=r"parent task .* \(add\) cancelled"):
        handle.wait(timeout=20)
    first, second, third = (app.get(t.id) for t in handle.tasks)
    assert first.status is Status.FAILED
    assert second.status is Status.CANCELLED
    assert f"parent task {first.id} (explode) failed" in second.errors[-1]["error"]
    assert third.status is Status.CANCELLED
    assert handle.progress() == (0, 3, 3)


def test_a_callback_that_runs_anyway_sees_none_for_the_failed_member(
    app: Conveyor, start_worker: StartWorker
) -> None:
    add, explode = app.task(tasks.add), app.task(max_attempts=1)(tasks.explode)
    tolerant = app.task(tasks.collect).options(on_parent_failure="run")
    start_worker()
    handle = chord([add.s(1, 1), explode.s("member")], tolerant.s()).enqueue()

    assert handle.wait(timeout=20) == [2, None]


def test_a_worker_killed_mid_chord_still_yields_exactly_one_callback(
    app: Conveyor, start_worker: StartWorker, sink: SinkFile
) -> None:
    held, collect = app.task(tasks.held), app.task(tasks.collect)
    gate = sink.gate()
    doomed = start_worker(concurrency=4, lease=2.0, reap_interval=0.3)
    members = group([held.s(i, gate) for i in range(3)])
    handle = chord(members, collect.s(key="callback")).enqueue()
    wait_until(lambda: all(sink.runs(f"held:{i}") for i in range(3)), timeout=20, message="members")

    doomed.process.kill()
    doomed.wait(10)
    start_worker(concurrency=4, lease=2.0, reap_interval=0.3)
    sink.open(gate)

    assert handle.wait(timeout=30) == [0, 1, 2]
    assert sink.run_counts()["callback"] == 1
    assert all(len(sink.runs(f"held:{i}")) == 2 for i in range(3))
    names = [t.name for t in app.workflow(handle.id).tasks]
    assert names.count("collect") == 1
