"""The worker registry: workers register, beat, stop; a silent one is shown dead."""

from __future__ import annotations

from conveyor.core.workers import DEAD_AFTER_BEATS, NewWorker, WorkerState
from conveyor.store import Store
from tests.factories import later

BEAT = 10.0


def moment() -> float:
    """A whole second, so times survive the round trip through PostgreSQL's microseconds."""
    return float(int(later()))


def worker(worker_id: str = "host-a:100:abc", queues: tuple[str, ...] = ("default",)) -> NewWorker:
    return NewWorker(
        id=worker_id,
        host="host-a",
        pid=100,
        queues=queues,
        concurrency=4,
        heartbeat_seconds=BEAT,
    )


def test_a_registered_worker_is_listed_alive(store: Store) -> None:
    now = moment()
    store.register_worker(worker(queues=("emails", "reports")), now=now)

    [seen] = store.list_workers(now=now + 1)

    assert seen.id == "host-a:100:abc"
    assert (seen.host, seen.pid, seen.concurrency) == ("host-a", 100, 4)
    assert seen.queues == ("emails", "reports")
    assert seen.in_flight == 0
    assert seen.heartbeat_seconds == BEAT
    assert seen.started_at.timestamp() == seen.last_seen.timestamp() == now
    assert seen.stopped_at is None
    assert seen.alive and seen.state is WorkerState.ALIVE


def test_a_heartbeat_records_when_and_how_busy(store: Store) -> None:
    now = moment()
    store.register_worker(worker(), now=now)

    assert store.heartbeat_worker("host-a:100:abc", in_flight=3, now=now + 5)

    [seen] = store.list_workers(now=now + 5)
    assert seen.last_seen.timestamp() == now + 5
    assert seen.in_flight == 3
    assert seen.started_at.timestamp() == now


def test_a_worker_that_stops_beating_is_shown_dead(store: Store) -> None:
    now = moment()
    store.register_worker(worker(), now=now)
    store.heartbeat_worker("host-a:100:abc", in_flight=2, now=now + 10)
    threshold = now + 10 + DEAD_AFTER_BEATS * BEAT

    [at_threshold] = store.list_workers(now=threshold)
    [past_threshold] = store.list_workers(now=threshold + 0.5)

    assert at_threshold.alive
    assert not past_threshold.alive
    assert past_threshold.state is WorkerState.DEAD
    assert past_threshold.dead_after_seconds == DEAD_AFTER_BEATS * BEAT


def test_a_graceful_stop_marks_the_worker_stopped_not_dead(store: Store) -> None:
    now = moment()
    store.register_worker(worker(), now=now)
    store.heartbeat_worker("host-a:100:abc", in_flight=2, now=now + 1)

    store.deregister_worker("host-a:100:abc", now=now + 2)

    [seen] = store.list_workers(now=now + 3)
    assert not seen.alive
    assert seen.state is WorkerState.STOPPED
    assert seen.stopped_at is not None and seen.stopped_at.timestamp() == now + 2
    assert seen.in_flight == 0


def test_a_stopped_or_unknown_worker_cannot_beat(store: Store) -> None:
    now = moment()
    store.register_worker(worker(), now=now)
    store.deregister_worker("host-a:100:abc", now=now + 1)

    assert not store.heartbeat_worker("host-a:100:abc", in_flight=1, now=now + 2)
    assert not store.heartbeat_worker("nobody", in_flight=1, now=now + 2)
    [seen] = store.list_workers(now=now + 2)
    assert seen.state is WorkerState.STOPPED


def test_registering_again_revives_the_row(store: Store) -> None:
    now = moment()
    store.register_worker(worker(), now=now)
    store.deregister_worker("host-a:100:abc", now=now + 1)

    store.register_worker(worker(), now=now + 2)

    [seen] = store.list_workers(now=now + 3)
    assert seen.alive and seen.stopped_at is None
    assert seen.last_seen.timestamp() == now + 2


def test_workers_are_listed_oldest_first(store: Store) -> None:
    now = moment()
    store.register_worker(worker("w2"), now=now + 1)
    store.register_worker(worker("w1"), now=now)
    store.register_worker(worker("w3"), now=now + 2)

    assert [w.id for w in store.list_workers(now=now + 3)] == ["w1", "w2", "w3"]


def test_prune_forgets_long_gone_workers_only(store: Store) -> None:
    now = moment()
    store.register_worker(worker("stopped"), now=now)
    store.deregister_worker("stopped", now=now + 10)
    store.register_worker(worker("dead"), now=now)
    store.heartbeat_worker("dead", in_flight=1, now=now + 20)
    store.register_worker(worker("alive"), now=now)
    store.heartbeat_worker("alive", in_flight=1, now=now + 1000)

    assert store.prune_workers(retention_seconds=500, now=now + 515) == 1
    assert {w.id for w in store.list_workers(now=now + 515)} == {"dead", "alive"}
    assert store.prune_workers(retention_seconds=500, now=now + 525) == 1
    assert [w.id for w in store.list_workers(now=now + 525)] == ["alive"]
