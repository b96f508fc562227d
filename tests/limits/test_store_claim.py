"""The claim under a queue's limits, on both backends, with the clock given (`now=`).

Times are whole seconds plus binary fractions (0.125, 0.25, ...), so the bucket's
arithmetic on epoch seconds is exact and a token is never a hair short of 1.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import pytest

from conveyor.core.limits import THROTTLE_POLL_SECONDS
from conveyor.core.queue import QueueSettings
from conveyor.core.task import AttemptError, Claimed, Completion, Failure, Lease, Priority
from conveyor.store import Store, open_store
from tests.factories import LEASE_SECONDS, WORKER, new_task


def epoch_after(seconds: float = 2.0) -> float:
    """A whole second later than every enqueue so far, so all tasks are due by then."""
    return float(math.ceil(time.time() + seconds))


def enqueue(store: Store, queue: str, count: int = 1, **fields: Any) -> list[str]:
    results = store.enqueue([new_task(queue=queue, **fields) for _ in range(count)])
    return [r.id for r in results]


def claim(
    store: Store, queues: Sequence[str], limit: int, now: float, worker: str = WORKER
) -> list[Claimed]:
    return store.claim(list(queues), limit, worker, LEASE_SECONDS, now=now)


def ids(claimed: Sequence[Claimed]) -> list[str]:
    return [c.task.id for c in claimed]


def complete(store: Store, claimed: Claimed, now: float) -> None:
    assert store.complete([Completion(claimed.lease, None)], now=now) == [claimed.task.id]


def fail(store: Store, lease: Lease, now: float, retry_delay: float | None) -> None:
    error = AttemptError(attempt=1, error="boom", traceback="", at="", worker_id=WORKER)
    assert store.fail([Failure(lease, error, retry_delay)], now=now) == [lease.task_id]


# -- the token bucket -------------------------------------------------------------------


def test_a_bucket_starts_full_then_refills_at_its_rate(store: Store) -> None:
    store.set_queue(QueueSettings("q", rate=8.0, burst=3))
    enqueue(store, "q", 20)
    t = epoch_after()

    assert len(claim(store, ["q"], 10, t)) == 3  # a full bucket: the burst
    assert claim(store, ["q"], 10, t) == []
    assert claim(store, ["q"], 10, t + 0.0625) == []  # half a token
    assert len(claim(store, ["q"], 10, t + 0.125)) == 1
    assert len(claim(store, ["q"], 10, t + 0.4375)) == 2  # 2.5 tokens: 2, half kept
    assert len(claim(store, ["q"], 10, t + 0.5)) == 1  # the half plus half a token
    assert len(claim(store, ["q"], 10, t + 100.0)) == 3  # refilled only up to the burst
    assert claim(store, ["q"], 10, t + 100.0) == []


def test_a_bucket_without_a_burst_holds_one_token(store: Store) -> None:
    store.set_queue(QueueSettings("q", rate=4.0))
    enqueue(store, "q", 5)
    t = epoch_after()

    assert len(claim(store, ["q"], 10, t)) == 1
    assert claim(store, ["q"], 10, t + 0.125) == []
    assert len(claim(store, ["q"], 10, t + 10.0)) == 1


def test_claims_of_different_workers_and_connections_share_one_bucket(
    store: Store, store_url: str
) -> None:
    store.set_queue(QueueSettings("q", rate=4.0, burst=2))
    enqueue(store, "q", 10)
    other = open_store(store_url)
    try:
        t = epoch_after()
        assert len(claim(store, ["q"], 1, t, worker="a")) == 1
        assert len(claim(other, ["q"], 5, t, worker="b")) == 1
        assert claim(store, ["q"], 5, t, worker="a") == []
        assert len(claim(other, ["q"], 5, t + 0.25, worker="b")) == 1
        assert claim(store, ["q"], 5, t + 0.25, worker="a") == []
    finally:
        other.close()


def test_a_claim_spends_only_what_it_took(store: Store) -> None:
    """Two tasks due, five tokens: two are spent and three stay for what comes next."""
    store.set_queue(QueueSettings("q", rate=1.0, burst=5))
    enqueue(store, "q", 2)
    t = epoch_after()
    assert len(claim(store, ["q"], 10, t)) == 2

    enqueue(store, "q", 5)
    assert len(claim(store, ["q"], 10, t)) == 3


def test_a_rate_limited_queue_does_not_hold_back_the_others(store: Store) -> None:
    store.set_queue(QueueSettings("slow", rate=1.0, burst=1))
    enqueue(store, "slow", 3)
    fast = enqueue(store, "fast", 3)
    t = epoch_after()

    claimed = claim(store, ["slow", "fast"], 10, t)

    assert len(claimed) == 4
    assert set(fast) <= set(ids(claimed))


def test_changing_the_rate_refills_the_bucket(store: Store) -> None:
    store.set_queue(QueueSettings("q", rate=1.0, burst=2))
    enqueue(store, "q", 10)
    t = epoch_after()
    assert len(claim(store, ["q"], 10, t)) == 2
    assert claim(store, ["q"], 10, t) == []

    store.set_queue(QueueSettings("q", rate=1.0, burst=4))

    assert len(claim(store, ["q"], 10, t)) == 4


def test_pausing_keeps_the_bucket_as_it_was(store: Store) -> None:
    store.set_queue(QueueSettings("q", rate=1.0, burst=2))
    enqueue(store, "q", 10)
    t = epoch_after()
    assert len(claim(store, ["q"], 10, t)) == 2

    store.set_queue(QueueSettings("q", rate=1.0, burst=2, paused=True))
    store.set_queue(QueueSettings("q", rate=1.0, burst=2))

    assert claim(store, ["q"], 10, t) == []


# -- max_concurrent -----------------------------------------------------------------------


def test_max_concurrent_counts_the_running_tasks_of_every_worker(store: Store) -> None:
    store.set_queue(QueueSettings("q", max_concurrent=2))
    enqueue(store, "q", 6)
    t = epoch_after()

    first = claim(store, ["q"], 10, t, worker="a")
    assert len(first) == 2
    assert claim(store, ["q"], 10, t, worker="b") == []

    complete(store, first[0], t)
    second = claim(store, ["q"], 10, t, worker="b")
    assert len(second) == 1
    assert claim(store, ["q"], 10, t, worker="a") == []

    fail(store, first[1].lease, t, retry_delay=None)
    assert store.release([second[0].lease], now=t) == [second[0].task.id]
    assert len(claim(store, ["q"], 10, t, worker="a")) == 2


def test_tasks_running_before_the_limit_was_set_count_against_it(store: Store) -> None:
    enqueue(store, "q", 5)
    t = epoch_after()
    assert len(claim(store, ["q"], 3, t)) == 3

    store.set_queue(QueueSettings("q", max_concurrent=2))

    assert claim(store, ["q"], 10, t) == []


def test_max_concurrent_and_rate_together_take_the_tighter(store: Store) -> None:
    store.set_queue(QueueSettings("q", rate=1.0, burst=5, max_concurrent=2))
    enqueue(store, "q", 10)
    t = epoch_after()

    first = claim(store, ["q"], 10, t)
    assert len(first) == 2  # two slots, though five tokens
    for one in first:
        complete(store, one, t)
    assert len(claim(store, ["q"], 10, t)) == 2  # three tokens were left


# -- max_per_key -----------------------------------------------------------------------


def test_max_per_key_holds_within_one_claim_batch(store: Store) -> None:
    store.set_queue(QueueSettings("q", max_per_key=1))
    a1, a2, b1, b2, n1, n2 = (
        enqueue(store, "q", concurrency_key=key)[0] for key in ("a", "a", "b", "b", None, None)
    )
    t = epoch_after()

    claimed = claim(store, ["q"], 10, t)
    assert ids(claimed) == [a1, b1, n1, n2]  # tasks without a key are not limited
    assert claim(store, ["q"], 10, t) == []

    complete(store, claimed[0], t)
    assert ids(claim(store, ["q"], 10, t)) == [a2]
    assert b2 not in ids(claim(store, ["q"], 10, t))


def test_max_per_key_counts_the_running_tasks_of_the_key(store: Store) -> None:
    store.set_queue(QueueSettings("q", max_per_key=2))
    a = enqueue(store, "q", 4, concurrency_key="a")
    b = enqueue(store, "q", 1, concurrency_key="b")
    t = epoch_after()

    assert ids(claim(store, ["q"], 1, t)) == a[:1]
    assert ids(claim(store, ["q"], 10, t)) == [a[1], *b]
    assert claim(store, ["q"], 10, t) == []


def test_max_per_key_and_max_concurrent_together(store: Store) -> None:
    store.set_queue(QueueSettings("q", max_concurrent=3, max_per_key=1))
    a1, _, b, c, _ = (
        enqueue(store, "q", concurrency_key=key)[0] for key in ("a", "a", "b", "c", "d")
    )
    t = epoch_after()

    assert ids(claim(store, ["q"], 10, t)) == [a1, b, c]


# -- groups ------------------------------------------------------------------------------

LIMITED = pytest.mark.parametrize(
    "settings",
    [None, {"max_concurrent": 100}],
    ids=["unlimited", "limited"],
)
"""Groups and pauses hold both in the plain claim and under a queue's limits (on
PostgreSQL these are different statements)."""


def _configure(store: Store, queue: str, settings: dict[str, Any] | None, **more: Any) -> None:
    if settings is not None or more:
        store.set_queue(QueueSettings(queue, **(settings or {}), **more))


@LIMITED
def test_only_the_head_of_a_group_is_claimed(store: Store, settings: dict[str, Any] | None) -> None:
    _configure(store, "q", settings)
    g1, g2, h1, g3, plain = (enqueue(store, "q", group=g)[0] for g in ("g", "g", "h", "g", None))
    t = epoch_after()

    claimed = claim(store, ["q"], 10, t)
    assert ids(claimed) == [g1, h1, plain]
    assert claim(store, ["q"], 10, t) == []

    complete(store, claimed[0], t)
    [second] = claim(store, ["q"], 10, t)
    assert second.task.id == g2

    # A failed attempt waiting out its backoff still holds the group.
    fail(store, second.lease, t, retry_delay=10.0)
    assert claim(store, ["q"], 10, t + 5.0) == []
    [again] = claim(store, ["q"], 10, t + 10.0)
    assert again.task.id == g2
    complete(store, again, t + 10.0)
    assert ids(claim(store, ["q"], 10, t + 10.0)) == [g3]


@LIMITED
def test_a_group_waits_for_an_earlier_task_scheduled_later(
    store: Store, settings: dict[str, Any] | None
) -> None:
    _configure(store, "q", settings)
    later_first = enqueue(store, "q", group="g", delay=60.0)[0]
    enqueue(store, "q", group="g")
    t = epoch_after()

    assert claim(store, ["q"], 10, t) == []
    assert ids(claim(store, ["q"], 1, t + 60.0)) == [later_first]


@LIMITED
def test_groups_are_per_queue(store: Store, settings: dict[str, Any] | None) -> None:
    _configure(store, "q", settings)
    first = enqueue(store, "q", group="g")
    other = enqueue(store, "other", group="g")
    t = epoch_after()

    assert set(ids(claim(store, ["q", "other"], 10, t))) == {*first, *other}


def test_a_group_head_blocked_by_its_key_holds_its_group(store: Store) -> None:
    store.set_queue(QueueSettings("q", max_per_key=1))
    running = enqueue(store, "q", concurrency_key="k")
    enqueue(store, "q", group="g", concurrency_key="k")
    enqueue(store, "q", group="g")
    t = epoch_after()

    assert ids(claim(store, ["q"], 10, t)) == running


# -- pause ---------------------------------------------------------------------------------


@LIMITED
def test_a_paused_queue_is_skipped_and_resumes_where_it_was(
    store: Store, settings: dict[str, Any] | None
) -> None:
    _configure(store, "p", settings, paused=True)
    held = enqueue(store, "p", 2)
    other = enqueue(store, "other", 1)
    t = epoch_after()

    assert ids(claim(store, ["p", "other"], 10, t)) == other
    assert claim(store, ["p"], 10, t) == []
    assert store.seconds_until_due(["p"], now=t) is None

    _configure(store, "p", settings, paused=False)

    assert store.seconds_until_due(["p"], now=t) == 0.0
    assert ids(claim(store, ["p"], 10, t)) == held


# -- seconds_until_due ------------------------------------------------------------------


def test_seconds_until_due_waits_for_the_next_token(store: Store) -> None:
    store.set_queue(QueueSettings("q", rate=4.0, burst=1))
    enqueue(store, "q", 3)
    t = epoch_after()
    assert store.seconds_until_due(["q"], now=t) == 0.0

    assert len(claim(store, ["q"], 10, t)) == 1

    assert store.seconds_until_due(["q"], now=t) == pytest.approx(0.25)
    assert store.seconds_until_due(["q"], now=t + 0.125) == pytest.approx(0.125)
    assert store.seconds_until_due(["q"], now=t + 0.25) == 0.0
    assert len(claim(store, ["q"], 10, t + 0.25)) == 1


def test_seconds_until_due_polls_a_queue_at_its_concurrency_limit(store: Store) -> None:
    store.set_queue(QueueSettings("q", max_concurrent=1))
    enqueue(store, "q", 2)
    t = epoch_after()
    [running] = claim(store, ["q"], 10, t)

    assert store.seconds_until_due(["q"], now=t) == THROTTLE_POLL_SECONDS

    complete(store, running, t)
    assert store.seconds_until_due(["q"], now=t) == 0.0


def test_seconds_until_due_takes_the_soonest_queue(store: Store) -> None:
    store.set_queue(QueueSettings("slow", rate=0.5, burst=1))
    enqueue(store, "slow", 2)
    [scheduled] = enqueue(store, "later", 1, delay=30.0)
    t = epoch_after()
    assert len(claim(store, ["slow", "later"], 10, t)) == 1

    assert store.seconds_until_due(["slow", "later"], now=t) == pytest.approx(2.0)
    task = store.get(scheduled)
    assert task is not None
    due_in = task.run_at.timestamp() - t
    assert store.seconds_until_due(["later"], now=t) == pytest.approx(due_in, abs=1e-3)
    assert store.seconds_until_due(["nothing"], now=t) is None


# -- limited and unlimited queues in one claim ------------------------------------------


def test_a_limited_queue_keeps_its_place_in_priority_order(store: Store) -> None:
    """A worker serving a busy plain queue and a limited one still takes the limited
    queue's more urgent task first: limits only ever hold a task back."""
    enqueue(store, "bulk", 5)
    store.set_queue(QueueSettings("limited", max_concurrent=10))
    [urgent] = enqueue(store, "limited", priority=Priority.HIGH)
    t = epoch_after()

    claimed = claim(store, ["bulk", "limited"], 1, t)

    assert ids(claimed) == [urgent]


def test_a_limited_queue_is_not_starved_by_a_busy_plain_queue(store: Store) -> None:
    store.set_queue(QueueSettings("limited", rate=100.0, burst=10))
    [first] = enqueue(store, "limited")
    bulk = enqueue(store, "bulk", 5)
    t = epoch_after()

    assert ids(claim(store, ["bulk", "limited"], 2, t)) == [first, bulk[0]]
    assert ids(claim(store, ["bulk", "limited"], 2, t)) == bulk[1:3]


@LIMITED
def test_seconds_until_due_polls_a_queue_whose_due_tasks_wait_on_their_group(
    store: Store, settings: dict[str, Any] | None
) -> None:
    """Due tasks that no claim may take yet are no reason to claim again at once: an
    idle worker would spin on the store while a group's head runs."""
    _configure(store, "q", settings)
    enqueue(store, "q", 3, group="g")
    t = epoch_after()
    [head] = claim(store, ["q"], 10, t)

    assert store.seconds_until_due(["q"], now=t) == THROTTLE_POLL_SECONDS

    complete(store, head, t)
    assert store.seconds_until_due(["q"], now=t) == 0.0


def test_seconds_until_due_polls_a_queue_whose_due_tasks_wait_on_their_key(
    store: Store,
) -> None:
    store.set_queue(QueueSettings("q", max_per_key=1))
    enqueue(store, "q", 2, concurrency_key="k")
    t = epoch_after()
    [running] = claim(store, ["q"], 10, t)

    assert store.seconds_until_due(["q"], now=t) == THROTTLE_POLL_SECONDS

    enqueue(store, "q", 1, concurrency_key="other")
    assert store.seconds_until_due(["q"], now=t) == 0.0
    assert running.task.concurrency_key == "k"
