"""Workflows in the store: tasks that wait for parents, fan-in, failure propagation.

Graphs are enqueued as one batch whose members name earlier members as parents; the
store queues a child once every parent's outcome is counted, exactly once each.
"""

from __future__ import annotations

import psycopg
import pytest

from conveyor.core.task import (
    AttemptError,
    Completion,
    Failure,
    NewTask,
    ParentFailure,
    PassResults,
    Status,
)
from conveyor.errors import ConfigurationError
from conveyor.store import Store
from tests.factories import LEASE_SECONDS, WORKER, later


def node(name: str, *parents: int, **fields: object) -> NewTask:
    mode = fields.pop("pass_results", PassResults.ONE if parents else None)
    return NewTask(
        name=name,
        queue="wf",
        args=list(fields.pop("args", [])),  # type: ignore[call-overload]
        workflow_id="wf-1",
        parents=parents,
        pass_results=mode,  # type: ignore[arg-type]
        **fields,  # type: ignore[arg-type]
    )


def run_next(store: Store, result: object = None, now: float | None = None) -> str:
    """Claim the one due task of the workflow queue and complete it with `result`."""
    [claimed] = store.claim(["wf"], 1, WORKER, LEASE_SECONDS, now=now)
    assert store.complete([Completion(claimed.lease, result)], now=now) == [claimed.task.id]
    return claimed.task.name


def fail_next(store: Store, now: float | None = None) -> str:
    [claimed] = store.claim(["wf"], 1, WORKER, LEASE_SECONDS, now=now)
    error = AttemptError(attempt=1, error="boom")
    assert store.fail([Failure(claimed.lease, error, None)], now=now) == [claimed.task.id]
    return claimed.task.name


def statuses(store: Store, ids: list[str]) -> list[Status]:
    return [store.get(i).status for i in ids]  # type: ignore[union-attr]


def test_a_chain_runs_link_by_link_passing_each_result_on(store: Store) -> None:
    stored = store.enqueue([node("a", args=[1]), node("b", 0, args=[10]), node("c", 1)])
    ids = [e.id for e in stored]
    assert statuses(store, ids) == [Status.QUEUED, Status.WAITING, Status.WAITING]
    assert [store.get(i).workflow_id for i in ids] == ["wf-1"] * 3  # type: ignore[union-attr]
    assert [e.status for e in stored] == [Status.QUEUED, Status.WAITING, Status.WAITING]

    assert run_next(store, {"sum": 1}) == "a"
    b = store.get(ids[1])
    assert b is not None and b.status is Status.QUEUED
    assert b.args == [{"sum": 1}, 10]
    assert run_next(store, "b-done") == "b"
    c = store.get(ids[2])
    assert c is not None and c.args == ["b-done"]
    assert run_next(store, 3) == "c"
    assert store.claim(["wf"], 10, WORKER, LEASE_SECONDS) == []


def test_a_chord_callback_is_queued_once_with_results_in_member_order(store: Store) -> None:
    members = [node(f"m{i}") for i in range(4)]
    callback = node("cb", 0, 1, 2, 3, pass_results=PassResults.ALL)
    ids = [e.id for e in store.enqueue([*members, callback])]

    claims = store.claim(["wf"], 10, WORKER, LEASE_SECONDS)
    assert sorted(c.task.name for c in claims) == ["m0", "m1", "m2", "m3"]
    by_name = {c.task.name: c for c in claims}
    # Completed out of order and in two batches: the callback waits for the last one.
    store.complete([Completion(by_name["m2"].lease, 2), Completion(by_name["m0"].lease, 0)])
    assert statuses(store, [ids[4]]) == [Status.WAITING]
    store.complete([Completion(by_name["m3"].lease, 3), Completion(by_name["m1"].lease, 1)])

    cb = store.get(ids[4])
    assert cb is not None and cb.status is Status.QUEUED
    assert cb.args == [[0, 1, 2, 3]]
    assert run_next(store) == "cb"


def test_a_parent_failing_for_good_cancels_its_descendants_naming_it(store: Store) -> None:
    ids = [e.id for e in store.enqueue([node("a"), node("b", 0), node("c", 1)])]

    assert fail_next(store) == "a"

    b, c = store.get(ids[1]), store.get(ids[2])
    assert b is not None and b.status is Status.CANCELLED
    assert c is not None and c.status is Status.CANCELLED
    assert b.errors[-1]["error"] == f"cancelled: parent task {ids[0]} (a) failed"
    assert c.errors[-1]["error"] == f"cancelled: parent task {ids[1]} (b) cancelled"
    assert store.claim(["wf"], 10, WORKER, LEASE_SECONDS) == []


def test_replaying_a_failed_parent_revives_what_it_cancelled_and_the_chain_runs_on(
    store: Store,
) -> None:
    ids = [e.id for e in store.enqueue([node("a"), node("b", 0, args=[10]), node("c", 1)])]
    assert fail_next(store) == "a"
    assert statuses(store, ids) == [Status.FAILED, Status.CANCELLED, Status.CANCELLED]

    assert store.replay([ids[0]]) == [ids[0]]

    assert statuses(store, ids) == [Status.QUEUED, Status.WAITING, Status.WAITING]
    b = store.get(ids[1])
    assert b is not None and b.finished_at is None and b.errors == []
    assert run_next(store, "a-done") == "a"
    b = store.get(ids[1])
    assert b is not None and b.args == ["a-done", 10]
    assert run_next(store, "b-done") == "b"
    assert run_next(store) == "c"
    assert statuses(store, ids) == [Status.COMPLETED] * 3


def test_a_revived_callback_waits_for_every_parent_not_yet_completed(store: Store) -> None:
    members = [node(f"m{i}") for i in range(3)]
    callback = node("cb", 0, 1, 2, pass_results=PassResults.ALL)
    ids = [e.id for e in store.enqueue([*members, callback])]
    claims = {c.task.name: c for c in store.claim(["wf"], 3, WORKER, LEASE_SECONDS)}
    store.complete([Completion(claims["m0"].lease, 0)])
    store.fail([Failure(claims["m1"].lease, AttemptError(attempt=1, error="x"), None)])
    assert statuses(store, [ids[3]]) == [Status.CANCELLED]
    store.complete([Completion(claims["m2"].lease, 2)])  # counted while cancelled

    store.replay([ids[1]])

    assert statuses(store, [ids[3]]) == [Status.WAITING]
    assert run_next(store, 1) == "m1"
    cb = store.get(ids[3])
    assert cb is not None and cb.status is Status.QUEUED and cb.args == [[0, 1, 2]]


def test_a_dependent_stays_cancelled_while_another_parent_has_failed(store: Store) -> None:
    ids = [e.id for e in store.enqueue([node("p"), node("q"), node("cb", 0, 1)])]
    claims = {c.task.name: c for c in store.claim(["wf"], 2, WORKER, LEASE_SECONDS)}
    store.fail([Failure(claims["p"].lease, AttemptError(attempt=1, error="x"), None)])
    store.fail([Failure(claims["q"].lease, AttemptError(attempt=1, error="y"), None)])

    store.replay([ids[1]])
    assert statuses(store, [ids[2]]) == [Status.CANCELLED]

    store.replay([ids[0]])  # now neither parent has failed: the callback waits for both
    assert statuses(store, [ids[2]]) == [Status.WAITING]
    assert sorted([run_next(store, 1), run_next(store, 2)]) == ["p", "q"]
    assert statuses(store, [ids[2]]) == [Status.QUEUED]


def test_a_dependent_cancelled_by_hand_is_not_revived(store: Store) -> None:
    ids = [e.id for e in store.enqueue([node("a"), node("b", 0)])]
    assert store.cancel([ids[1]]) == [ids[1]]
    assert fail_next(store) == "a"

    store.replay([ids[0]])

    assert statuses(store, ids) == [Status.QUEUED, Status.CANCELLED]


def test_a_retried_parent_does_not_release_its_child(store: Store) -> None:
    ids = [e.id for e in store.enqueue([node("a"), node("b", 0)])]
    [claimed] = store.claim(["wf"], 1, WORKER, LEASE_SECONDS)
    store.fail([Failure(claimed.lease, AttemptError(attempt=1, error="flaky"), 0.0)])

    assert statuses(store, ids) == [Status.QUEUED, Status.WAITING]
    assert run_next(store, "ok", now=later()) == "a"
    # Promoted at the test's later clock, so shown as scheduled until that time comes.
    assert statuses(store, [ids[1]])[0] in (Status.QUEUED, Status.SCHEDULED)


def test_a_member_that_runs_anyway_gets_none_for_a_failed_parent(store: Store) -> None:
    callback = node("cb", 0, 1, pass_results=PassResults.ALL, on_parent_failure=ParentFailure.RUN)
    ids = [e.id for e in store.enqueue([node("ok"), node("bad"), callback])]
    claims = {c.task.name: c for c in store.claim(["wf"], 2, WORKER, LEASE_SECONDS)}
    store.complete([Completion(claims["ok"].lease, "fine")])
    store.fail([Failure(claims["bad"].lease, AttemptError(attempt=1, error="x"), None)])

    cb = store.get(ids[2])
    assert cb is not None and cb.status is Status.QUEUED
    assert cb.args == [["fine", None]]


def test_cancelling_a_parent_cancels_what_waits_for_it(store: Store) -> None:
    ids = [e.id for e in store.enqueue([node("a"), node("b", 0)])]

    assert store.cancel([ids[0]]) == [ids[0]]

    b = store.get(ids[1])
    assert b is not None and b.status is Status.CANCELLED
    assert ids[0] in b.errors[-1]["error"]


def test_a_waiting_task_can_be_cancelled_and_is_never_queued(store: Store) -> None:
    ids = [e.id for e in store.enqueue([node("a"), node("b", 0)])]

    assert store.cancel([ids[1]]) == [ids[1]]
    assert run_next(store) == "a"

    assert statuses(store, ids) == [Status.COMPLETED, Status.CANCELLED]


def test_the_workflow_lists_members_and_edges_and_counts_states(store: Store) -> None:
    ids = [e.id for e in store.enqueue([node("a"), node("b"), node("cb", 0, 1)])]
    run_next(store)

    view = store.workflow("wf-1")
    assert view is not None
    assert [t.id for t in view.tasks] == ids
    assert view.edges == [(ids[0], ids[2]), (ids[1], ids[2])]
    assert view.parents(ids[2]) == ids[:2]
    assert store.workflow_counts("wf-1") == {"completed": 1, "queued": 1, "waiting": 1}
    assert store.workflow("nope") is None
    assert store.workflow_counts("nope") == {}


def test_parents_must_be_earlier_members_without_idempotency_keys(store: Store) -> None:
    with pytest.raises(ConfigurationError, match="must be an earlier task"):
        store.enqueue([node("a", 0)])
    with pytest.raises(ConfigurationError, match="idempotency key"):
        store.enqueue([node("a", idempotency_key="k"), node("b", 0)])
    assert store.workflow("wf-1") is None


def test_pruning_keeps_a_parent_while_a_child_waits_and_drops_edges(store: Store) -> None:
    ids = [e.id for e in store.enqueue([node("a"), node("b"), node("cb", 0, 1)])]
    run_next(store, "first")
    far = later(10_000)

    assert store.prune(completed_seconds=1, failed_seconds=1, now=far) == 0
    run_next(store, "second")
    run_next(store)
    assert store.prune(completed_seconds=1, failed_seconds=1, now=later(20_000)) == 3
    assert store.workflow("wf-1") is None
    assert [store.get(i) for i in ids] == [None, None, None]


def test_the_reaper_settles_an_outcome_a_crash_left_uncounted(
    store: Store, store_url: str, backend: str
) -> None:
    ids = [e.id for e in store.enqueue([node("a"), node("b", 0)])]
    run_next(store, "done")
    # The state a crash between an outcome and its settling leaves behind (PostgreSQL
    # settles in a second transaction): the parent completed, its edge not counted.
    undo = [
        "UPDATE conveyor_dependencies SET settled = {false}",
        "UPDATE conveyor_tasks SET status = 'waiting', waiting_on = 1, args = '[]' "
        "WHERE name = 'b'",
    ]
    _raw(store_url, backend, undo)
    assert statuses(store, ids) == [Status.COMPLETED, Status.WAITING]

    store.reap_expired()

    b = store.get(ids[1])
    assert b is not None and b.status is Status.QUEUED and b.args == ["done"]
    store.reap_expired()
    assert store.get(ids[1]) == b


def _raw(store_url: str, backend: str, statements: list[str]) -> None:
    if backend == "sqlite":
        import sqlite3

        from conveyor.store.sqlite.store import parse_sqlite_url

        path, _ = parse_sqlite_url(store_url)
        with sqlite3.connect(path) as conn:
            for statement in statements:
                conn.execute(statement.format(false=0))
        return
    with psycopg.connect(store_url, autocommit=True) as pg:
        for statement in statements:
            pg.execute(statement.format(false="false"))  # type: ignore[arg-type]
