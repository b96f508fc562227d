"""A queue's other settings, on both backends: age limit, retry policy and priority for
tasks that set none, lease length, retention; and how `app.queue()` reads them."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import pytest

from conveyor import Conveyor
from conveyor.core.queue import QueueSettings
from conveyor.core.task import (
    AttemptError,
    Completion,
    Failure,
    Lease,
    Priority,
    RetryPolicy,
    Status,
)
from conveyor.errors import ConfigurationError
from conveyor.store import Store
from tests.factories import WORKER, new_task


@pytest.fixture
def client(store_url: str) -> Iterator[Conveyor]:
    app = Conveyor(store_url)

    @app.task(queue="policy")
    def plain() -> None: ...

    @app.task(queue="policy", max_attempts=2)
    def own_policy() -> None: ...

    @app.task(queue="policy", priority="low")
    def own_priority() -> None: ...

    yield app
    app.close()


def epoch_after(seconds: float = 2.0) -> float:
    return float(math.ceil(time.time() + seconds))


def claim_one(store: Store, queue: str, now: float, lease_seconds: float = 30.0) -> Lease:
    [claimed] = store.claim([queue], 1, WORKER, lease_seconds, now=now)
    return claimed.lease


def fail(store: Store, lease: Lease, now: float, retry_delay: float | None) -> None:
    error = AttemptError(attempt=1, error="boom", traceback="", at="", worker_id=WORKER)
    assert store.fail([Failure(lease, error, retry_delay)], now=now) == [lease.task_id]


def status(store: Store, task_id: str) -> Status:
    task = store.get(task_id)
    assert task is not None
    return task.status


# -- age limit -----------------------------------------------------------------------------


def test_a_failing_task_fails_for_good_once_older_than_its_queue_age_limit(
    store: Store,
) -> None:
    store.set_queue(QueueSettings("aging", age_limit=1.0, max_attempts=100))
    [done] = store.enqueue([new_task(queue="aging")])
    created = done.created_at.timestamp()

    lease = claim_one(store, "aging", now=created + 0.1)
    fail(store, lease, now=created + 0.5, retry_delay=0.1)
    assert status(store, done.id) in (Status.QUEUED, Status.SCHEDULED)  # young: retried

    lease = claim_one(store, "aging", now=created + 0.7)
    fail(store, lease, now=created + 1.5, retry_delay=0.1)  # past the age limit
    task = store.get(done.id)
    assert task is not None and task.status is Status.FAILED
    assert task.attempts == 2 and task.max_attempts == 100
    assert len(task.errors) == 2


def test_without_an_age_limit_the_same_task_keeps_retrying(store: Store) -> None:
    store.set_queue(QueueSettings("ageless", max_attempts=100))
    [done] = store.enqueue([new_task(queue="ageless")])
    created = done.created_at.timestamp()

    lease = claim_one(store, "ageless", now=created + 0.7)
    fail(store, lease, now=created + 1000.0, retry_delay=0.1)

    assert status(store, done.id) is not Status.FAILED


def test_an_expired_lease_past_the_age_limit_fails_the_task(store: Store) -> None:
    """A worker that died mid-attempt failed that attempt: past the age limit, the reaper
    fails the task for good instead of queueing it again (invariant 4)."""
    store.set_queue(QueueSettings("aging", age_limit=1.0, max_attempts=100))
    [young, old] = store.enqueue([new_task(queue="aging"), new_task(queue="aging")])
    created = old.created_at.timestamp()
    claim_one(store, "aging", now=created + 0.1, lease_seconds=0.1)
    assert store.reap_expired(now=created + 0.5) == 1
    assert status(store, young.id) in (Status.QUEUED, Status.SCHEDULED)

    claim_one(store, "aging", now=created + 0.6, lease_seconds=0.1)
    claim_one(store, "aging", now=created + 0.7, lease_seconds=0.1)
    assert store.reap_expired(now=created + 2.0) == 2

    assert status(store, young.id) is Status.FAILED
    assert status(store, old.id) is Status.FAILED


# -- retry policy and priority from the queue -------------------------------------------------


def test_tasks_that_set_nothing_take_the_queue_policy_and_priority(client: Conveyor) -> None:
    client.queue(
        "policy",
        max_attempts=7,
        min_backoff="2s",
        max_backoff="1m",
        max_doublings=3,
        priority="high",
    )

    task = client.get(client.enqueue("plain").id)

    assert task.priority is Priority.HIGH
    assert task.max_attempts == 7
    assert task.retry == RetryPolicy(
        max_attempts=7, min_backoff=2.0, max_backoff=60.0, max_doublings=3
    )


def test_a_task_own_options_win_over_its_queue(client: Conveyor) -> None:
    client.queue("policy", max_attempts=7, min_backoff=2, priority="high")

    own_policy = client.get(client.enqueue("own_policy").id)
    own_priority = client.get(client.enqueue("own_priority").id)
    at_enqueue = client.get(client.enqueue("plain", priority="normal", max_attempts=4).id)

    assert own_policy.retry == RetryPolicy(max_attempts=2)  # the task's policy, whole
    assert own_policy.priority is Priority.HIGH
    assert own_priority.priority is Priority.LOW
    assert own_priority.max_attempts == 7
    assert at_enqueue.priority is Priority.NORMAL
    assert at_enqueue.retry == RetryPolicy(max_attempts=4)


def test_a_queue_without_settings_gives_the_defaults(client: Conveyor) -> None:
    task = client.get(client.enqueue("plain", queue="unset").id)

    assert task.priority is Priority.NORMAL
    assert task.retry == RetryPolicy()


def test_the_queue_max_attempts_ends_the_retries(client: Conveyor) -> None:
    client.queue("policy", max_attempts=2, min_backoff=0)
    handle = client.enqueue("plain")
    store = client.store
    t = epoch_after()

    fail(store, claim_one(store, "policy", now=t), now=t, retry_delay=0.0)
    assert status(store, handle.id) in (Status.QUEUED, Status.SCHEDULED)
    fail(store, claim_one(store, "policy", now=t), now=t, retry_delay=0.0)

    assert status(store, handle.id) is Status.FAILED


# -- lease length ------------------------------------------------------------------------------


def test_a_queue_lease_overrides_the_worker_lease(store: Store) -> None:
    store.set_queue(QueueSettings("short", lease_seconds=2.0))
    store.enqueue([new_task(queue="short"), new_task(queue="plain")])
    t = epoch_after()

    [short] = store.claim(["short"], 1, WORKER, 30.0, now=t)
    [plain] = store.claim(["plain"], 1, WORKER, 30.0, now=t)

    for claimed, span in ((short, 2.0), (plain, 30.0)):
        task = store.get(claimed.task.id)
        assert task is not None and task.started_at and task.lease_expires_at
        assert (task.lease_expires_at - task.started_at).total_seconds() == pytest.approx(span)

    assert store.heartbeat([short.lease], 30.0, now=t + 1.0) == [short.task.id]
    task = store.get(short.task.id)
    assert task is not None and task.lease_expires_at is not None
    assert task.lease_expires_at.timestamp() == pytest.approx(t + 3.0)
    assert store.reap_expired(now=t + 3.5) == 1
    assert status(store, plain.task.id) is Status.RUNNING


# -- retention ---------------------------------------------------------------------------------


def test_prune_keeps_each_queue_tasks_for_its_own_retention(store: Store) -> None:
    store.set_queue(QueueSettings("short", completed_retention=10.0, failed_retention=20.0))
    store.set_queue(QueueSettings("long", completed_retention=5000.0))
    t = epoch_after()
    finished: dict[tuple[str, str], str] = {}
    for queue in ("short", "long", "plain"):
        store.enqueue([new_task(queue=queue), new_task(queue=queue)])
        done, failed = store.claim([queue], 2, WORKER, 30.0, now=t)
        assert store.complete([Completion(done.lease, None)], now=t) == [done.task.id]
        fail(store, failed.lease, now=t, retry_delay=None)
        finished[(queue, "completed")] = done.task.id
        finished[(queue, "failed")] = failed.task.id

    def left() -> set[tuple[str, str]]:
        return {key for key, task_id in finished.items() if store.get(task_id) is not None}

    def prune(at: float) -> int:
        return store.prune(completed_seconds=1000.0, failed_seconds=2000.0, now=at)

    assert prune(t + 5.0) == 0
    assert prune(t + 15.0) == 1
    assert ("short", "completed") not in left()
    assert prune(t + 25.0) == 1
    assert {q for q, _ in left()} == {"long", "plain"}
    assert prune(t + 1500.0) == 1  # plain's completed task, past the default
    assert prune(t + 2500.0) == 2  # plain's and long's failed tasks (default 2000 s)
    assert left() == {("long", "completed")}
    assert prune(t + 5001.0) == 1


# -- app.queue() -------------------------------------------------------------------------------


def test_app_queue_reads_settings_as_people_write_them(client: Conveyor) -> None:
    settings = client.queue(
        "emails",
        rate="30/m",
        burst=4,
        max_concurrent=3,
        max_per_key=1,
        age_limit="2h",
        lease_seconds="45s",
        completed_retention="1d",
        priority="high",
    )

    assert settings == client.queue_settings("emails")
    assert settings.rate == 0.5 and settings.age_limit == 7200.0
    assert settings.lease_seconds == 45.0 and settings.completed_retention == 86400.0
    assert settings.priority is Priority.HIGH

    changed = client.queue("emails", rate=None, max_concurrent=5)
    assert changed.rate is None and changed.max_concurrent == 5 and changed.burst == 4


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("rate", "fast"),
        ("rate", 0),
        ("burst", 0),
        ("burst", 1.5),
        ("max_concurrent", -1),
        ("max_per_key", 0),
        ("age_limit", "soon"),
        ("lease_seconds", 0),
        ("priority", "urgent"),
        ("paused", "yes"),
        ("colour", "blue"),
    ],
)
def test_app_queue_refuses_bad_settings_and_keeps_the_old_ones(
    client: Conveyor, setting: str, value: object
) -> None:
    before = client.queue("q", max_concurrent=2)

    with pytest.raises(ConfigurationError, match=setting if setting != "priority" else "priorit"):
        client.queue("q", **{setting: value})

    assert client.queue_settings("q") == before
