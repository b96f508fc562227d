"""Property tests: random sequences of store operations keep every invariant, on both backends.

A `hypothesis.stateful` machine drives one real store through enqueue (priorities,
delays, idempotency keys, groups, retry policies), claim, heartbeat, complete, fail
(retry and final), cancel, reap, replay, release and clock advances, and after every step
compares the store with a small model kept in Python:

- each task's status, attempts and due time match the model;
- a report with a stale lease token is refused (every report picks any lease ever
  handed out, so stale ones come up all the time);
- a claim takes due tasks by priority, then enqueue order, at most one per group, and
  never while another task of the group runs or waits ahead of it;
- an idempotency key returns the first task; a cancelled task is never claimed;
- a retried task is not due before the delay the policy allows; attempts never exceed
  max_attempts; reap returns exactly the expired leases.

Time: tasks are enqueued at the real clock, and every other call gets `now=` from a
model clock that starts well after it (like `factories.later()`), so the test decides
what is due. The model clock stays clear of every stored instant by a margin, so the
backends' rounding (PostgreSQL keeps microseconds) never decides a comparison.

Budget: the default profile keeps both backends together under a minute in `make test`;
`CONVEYOR_HYPOTHESIS_PROFILE=thorough` runs far longer sequences for a soak.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from conveyor.core.retry import base_delay, retry_delay
from conveyor.core.task import (
    Claimed,
    Completion,
    Failure,
    Lease,
    NewTask,
    Priority,
    RetryPolicy,
    Status,
)
from conveyor.store import Store, open_store
from conveyor.store.base import Enqueued, TaskFilter
from tests import databases
from tests.factories import attempt_error

PROFILES = {
    "ci": settings(
        max_examples=150,
        stateful_step_count=50,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    ),
    "thorough": settings(
        max_examples=500,
        stateful_step_count=80,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    ),
}
PROFILE = os.environ.get("CONVEYOR_HYPOTHESIS_PROFILE", "ci")

QUEUES = ("a", "b")
GROUPS = (None, None, "g1", "g2")
KEYS = (None, None, "k1", "k2", "k3")
LEASE_SECONDS = 60.0
MARGIN = 0.05
"""Seconds the model clock keeps away from any stored instant (run_at, lease expiry)."""
TOLERANCE = 0.01
"""Seconds a stored instant may differ from the model's (float and microsecond rounding)."""
WORKER = "prop-worker"


@dataclass
class ModelTask:
    id: str
    seq: int
    queue: str
    priority: int
    group: str | None
    policy: RetryPolicy
    status: Status = Status.QUEUED
    attempts: int = 0
    run_at: float = 0.0
    earliest: float = 0.0
    """The earliest due time the policy allows since the last requeue."""
    token: int | None = None
    lease_expires: float | None = None


@dataclass
class Model:
    tasks: dict[str, ModelTask] = field(default_factory=dict)
    keys: dict[tuple[str, str], str] = field(default_factory=dict)
    now: float = 0.0

    def due(self, task: ModelTask) -> bool:
        return task.status is Status.QUEUED and task.run_at <= self.now

    def claim_order(self, queues: tuple[str, ...], limit: int) -> list[str]:
        """The ids a claim must return: priority then FIFO, the head of each group only."""
        candidates = [
            t for t in self.tasks.values() if t.queue in queues and self.due(t) and self._free(t)
        ]
        candidates.sort(key=lambda t: (t.priority, t.seq))
        return [t.id for t in candidates[:limit]]

    def _free(self, task: ModelTask) -> bool:
        if task.group is None:
            return True
        return not any(
            other.id != task.id
            and other.queue == task.queue
            and other.group == task.group
            and (
                other.status is Status.RUNNING
                or (other.status is Status.QUEUED and other.seq < task.seq)
            )
            for other in self.tasks.values()
        )

    def holds(self, lease: Lease) -> bool:
        task = self.tasks[lease.task_id]
        return task.status is Status.RUNNING and task.token == lease.token

    def instants(self) -> list[float]:
        found = [t.run_at for t in self.tasks.values() if t.status is Status.QUEUED]
        found += [t.lease_expires for t in self.tasks.values() if t.lease_expires is not None]
        return found

    def settle_clock(self) -> None:
        """Move the clock just past any stored instant it sits on, so no comparison is a tie."""
        while any(abs(self.now - at) < MARGIN for at in self.instants()):
            self.now += 2 * MARGIN


policies = st.builds(
    RetryPolicy,
    max_attempts=st.integers(1, 4),
    min_backoff=st.sampled_from([1.0, 5.0, 30.0]),
    max_backoff=st.sampled_from([10.0, 60.0, 600.0]),
    max_doublings=st.integers(0, 4),
)
new_tasks = st.builds(
    NewTask,
    name=st.just("job"),
    queue=st.sampled_from(QUEUES),
    priority=st.sampled_from(list(Priority)),
    delay=st.sampled_from([0.0, 0.0, 0.0, 500.0, 5000.0]),
    idempotency_key=st.sampled_from(KEYS),
    group=st.sampled_from(GROUPS),
    retry=policies,
)


class StoreMachine(RuleBasedStateMachine):
    """One example: a fresh store, random operations, the model checked after each."""

    open_fresh: Callable[[], Store]

    def __init__(self) -> None:
        super().__init__()
        self.store = self.open_fresh()
        self.model = Model(now=time.time() + 1000.0)
        self.leases: list[Lease] = []
        self.seq = 0

    # -- enqueue ------------------------------------------------------------------

    @initialize()
    def start_empty(self) -> None:
        assert self.store.list(TaskFilter(), limit=1).tasks == []

    @rule(news=st.lists(new_tasks, min_size=1, max_size=3))
    def enqueue(self, news: list[NewTask]) -> None:
        before = time.time()
        results = self.store.enqueue(news)
        after = time.time()
        assert len(results) == len(news)
        for new, result in zip(news, results, strict=True):
            self._record_enqueue(new, result, before, after)

    def _record_enqueue(self, new: NewTask, result: Enqueued, before: float, after: float) -> None:
        key = new.idempotency_key
        first = self.model.keys.get((new.queue, key)) if key is not None else None
        if first is not None:
            assert not result.created, f"idempotency key {key!r} of {new.queue!r} made a new task"
            assert result.id == first, "an idempotency key returned another task"
            return
        assert result.created
        stored = self.store.get(result.id)
        assert stored is not None
        run_at = stored.run_at.timestamp()
        # PostgreSQL's clock may run a hair apart from this host's.
        assert before + new.delay - 1.0 <= run_at <= after + new.delay + 1.0
        assert new.priority is not None and new.retry is not None
        self.seq += 1
        self.model.tasks[result.id] = ModelTask(
            id=result.id,
            seq=self.seq,
            queue=new.queue,
            priority=int(new.priority),
            group=new.group,
            policy=new.retry,
            run_at=run_at,
            earliest=run_at,
        )
        if key is not None:
            self.model.keys[(new.queue, key)] = result.id

    # -- time ------------------------------------------------------------------------

    @rule(seconds=st.sampled_from([0.5, 3.0, 20.0, 61.0, 700.0, 2000.0]))
    def advance_clock(self, seconds: float) -> None:
        self.model.now += seconds

    # -- claim ----------------------------------------------------------------------

    @rule(queues=st.sampled_from([("a",), ("b",), ("a", "b")]), limit=st.integers(1, 4))
    def claim(self, queues: tuple[str, ...], limit: int) -> None:
        self.model.settle_clock()
        now = self.model.now
        expected = self.model.claim_order(queues, limit)
        got = self.store.claim(list(queues), limit, WORKER, LEASE_SECONDS, now=now)
        assert [c.task.id for c in got] == expected, (
            f"claim of {queues} (limit {limit}) at {now} took {[c.task.id for c in got]}, "
            f"the model says {expected}"
        )
        for claimed in got:
            self._record_claim(claimed, now)

    def _record_claim(self, claimed: Claimed, now: float) -> None:
        task = self.model.tasks[claimed.task.id]
        assert task.status is not Status.CANCELLED, f"cancelled task {task.id} was claimed"
        assert now + TOLERANCE >= task.earliest, "claimed before its retry delay ran out"
        old = task.token
        assert old is None or claimed.lease.token != old, "a claim reused the lease token"
        task.status, task.token = Status.RUNNING, claimed.lease.token
        task.attempts += 1
        task.lease_expires = now + LEASE_SECONDS
        assert task.attempts <= task.policy.max_attempts, f"{task.id} ran past max_attempts"
        self.leases.append(claimed.lease)

    # -- worker reports, with any lease ever handed out (stale ones included) -----------

    @precondition(lambda self: bool(self.leases))
    @rule(pick=st.integers(0, 1000))
    def heartbeat(self, pick: int) -> None:
        lease = self._lease(pick)
        self.model.settle_clock()
        now = self.model.now
        holds = self.model.holds(lease)
        accepted = self.store.heartbeat([lease], LEASE_SECONDS, now=now)
        assert accepted == ([lease.task_id] if holds else []), f"heartbeat {lease}: {accepted}"
        if holds:
            self.model.tasks[lease.task_id].lease_expires = now + LEASE_SECONDS

    @precondition(lambda self: bool(self.leases))
    @rule(pick=st.integers(0, 1000))
    def complete(self, pick: int) -> None:
        lease = self._lease(pick)
        holds = self.model.holds(lease)
        accepted = self.store.complete([Completion(lease, {"ok": pick})], now=self.model.now)
        assert accepted == ([lease.task_id] if holds else []), f"complete {lease}: {accepted}"
        if holds:
            self._finish(lease.task_id, Status.COMPLETED)

    @precondition(lambda self: bool(self.leases))
    @rule(pick=st.integers(0, 1000), final=st.booleans(), seed=st.randoms(use_true_random=False))
    def fail(self, pick: int, final: bool, seed: random.Random) -> None:
        lease = self._lease(pick)
        task = self.model.tasks[lease.task_id]
        delay = None if final else retry_delay(task.policy, task.attempts, seed)
        holds = self.model.holds(lease)
        now = self.model.now
        failure = Failure(lease, attempt_error(max(task.attempts, 1)), retry_delay=delay)
        accepted = self.store.fail([failure], now=now)
        assert accepted == ([lease.task_id] if holds else []), f"fail {lease}: {accepted}"
        if not holds:
            return
        if delay is None:
            self._finish(task.id, Status.FAILED)
            return
        floor = base_delay(task.policy, task.attempts) * 0.75
        assert floor - 1e-9 <= delay <= base_delay(task.policy, task.attempts) + 1e-9
        task.status, task.lease_expires = Status.QUEUED, None
        task.run_at, task.earliest = now + delay, now + floor

    @precondition(lambda self: bool(self.leases))
    @rule(pick=st.integers(0, 1000))
    def release(self, pick: int) -> None:
        lease = self._lease(pick)
        holds = self.model.holds(lease)
        accepted = self.store.release([lease], now=self.model.now)
        assert accepted == ([lease.task_id] if holds else []), f"release {lease}: {accepted}"
        if holds:
            task = self.model.tasks[lease.task_id]
            task.status, task.lease_expires = Status.QUEUED, None
            task.attempts -= 1
            task.run_at = task.earliest = self.model.now

    def _lease(self, pick: int) -> Lease:
        return self.leases[pick % len(self.leases)]

    def _finish(self, task_id: str, status: Status) -> None:
        task = self.model.tasks[task_id]
        task.status, task.lease_expires = status, None

    # -- operators and duties ---------------------------------------------------------

    @precondition(lambda self: bool(self.model.tasks))
    @rule(pick=st.integers(0, 1000))
    def cancel(self, pick: int) -> None:
        ids = sorted(self.model.tasks, key=lambda i: self.model.tasks[i].seq)
        task = self.model.tasks[ids[pick % len(ids)]]
        unfinished = not task.status.finished
        accepted = self.store.cancel([task.id], now=self.model.now)
        assert accepted == ([task.id] if unfinished else []), f"cancel {task.id}: {accepted}"
        if unfinished:
            self._finish(task.id, Status.CANCELLED)

    @rule()
    def reap(self) -> None:
        self.model.settle_clock()
        now = self.model.now
        expired = [
            t
            for t in self.model.tasks.values()
            if t.status is Status.RUNNING and t.lease_expires is not None and t.lease_expires < now
        ]
        assert self.store.reap_expired(now=now) == len(expired)
        for task in expired:
            if task.attempts < task.policy.max_attempts:
                task.status, task.lease_expires = Status.QUEUED, None
                task.run_at = task.earliest = now
            else:
                self._finish(task.id, Status.FAILED)

    @rule(queue=st.sampled_from([None, *QUEUES]))
    def replay(self, queue: str | None) -> None:
        dead = {
            t.id
            for t in self.model.tasks.values()
            if t.status is Status.FAILED and queue in (None, t.queue)
        }
        replayed = self.store.replay(queue=queue, now=self.model.now)
        assert set(replayed) == dead, f"replay of {queue!r}: {replayed}, model {dead}"
        for task_id in dead:
            task = self.model.tasks[task_id]
            task.status, task.attempts = Status.QUEUED, 0
            task.run_at = task.earliest = self.model.now

    # -- after every step ---------------------------------------------------------------

    @invariant()
    def store_matches_model(self) -> None:
        stored = {t.id: t for t in self.store.list(TaskFilter(), limit=1000).tasks}
        assert set(stored) == set(self.model.tasks)
        for task_id, want in self.model.tasks.items():
            got = stored[task_id]
            # `list` shows status by the real clock, which lies before the model's.
            status = Status.QUEUED if got.status is Status.SCHEDULED else got.status
            assert status is want.status, f"{task_id}: stored {got.status}, model {want.status}"
            assert got.attempts == want.attempts, f"{task_id}: attempts {got.attempts}"
            assert got.attempts <= got.max_attempts
            if want.status is Status.QUEUED:
                assert abs(got.run_at.timestamp() - want.run_at) < TOLERANCE, task_id
                assert got.run_at.timestamp() + TOLERANCE >= want.earliest, task_id
            if want.status is Status.RUNNING:
                assert got.lease_expires_at is not None and want.lease_expires is not None
                assert abs(got.lease_expires_at.timestamp() - want.lease_expires) < TOLERANCE

    @invariant()
    def a_group_never_has_two_running(self) -> None:
        running = [
            (t.queue, t.group)
            for t in self.model.tasks.values()
            if t.status is Status.RUNNING and t.group is not None
        ]
        assert len(running) == len(set(running)), f"two tasks of one group run: {running}"


@pytest.fixture
def open_fresh(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], Store]]:
    """An empty, migrated store of `backend` for every example; closed after the test.

    SQLite gets a new file per example. PostgreSQL keeps one store and deletes every row
    between examples: a reset (terminate, TRUNCATE) per example would cost most of the run.
    """
    opened: list[Store] = []
    if backend == "sqlite":
        counter = iter(range(1_000_000))

        def fresh_sqlite() -> Store:
            opened.append(open_store(f"sqlite:///{tmp_path}/example-{next(counter)}.db"))
            return opened[-1]

        yield fresh_sqlite
    else:
        admin, database = request.getfixturevalue("postgres_database")
        databases.reset_database(admin, database)
        opened.append(open_store(databases.url_for(admin, database)))
        with psycopg.connect(databases.url_for(admin, database), autocommit=True) as conn:

            def fresh_postgres() -> Store:
                conn.execute(EMPTY_POSTGRES)
                return opened[0]

            yield fresh_postgres
    for store in opened:
        store.close()


EMPTY_POSTGRES = """
DO $$ DECLARE name text; BEGIN
    FOR name IN SELECT tablename FROM pg_tables
        WHERE schemaname = 'public' AND tablename LIKE 'conveyor%'
          AND tablename <> 'conveyor_migrations'
    LOOP
        EXECUTE 'DELETE FROM ' || quote_ident(name);
    END LOOP;
END $$
"""


# Shrinking a failure takes longer than finding it; a soak takes as long as it takes.
@pytest.mark.timeout(180 if PROFILE == "ci" else 3600)
def test_random_operations_keep_every_invariant(open_fresh: Callable[[], Store]) -> None:
    machine = type("Machine", (StoreMachine,), {"open_fresh": staticmethod(open_fresh)})
    assert PROFILE in PROFILES, (
        f"CONVEYOR_HYPOTHESIS_PROFILE={PROFILE!r} is not one of {', '.join(PROFILES)}"
    )
    run_state_machine_as_test(machine, settings=PROFILES[PROFILE])
