"""Leader duties: one holder at a time; the holder renews; another takes over after expiry."""

from __future__ import annotations

from conveyor.store import Store
from tests.factories import later


def test_a_duty_has_one_holder_at_a_time(store: Store) -> None:
    now = later()

    assert store.acquire_duty("reaper", "node-a", 30.0, now=now)
    assert not store.acquire_duty("reaper", "node-b", 30.0, now=now + 1)
    assert not store.acquire_duty("reaper", "node-b", 30.0, now=now + 29)


def test_the_holder_renews_its_duty(store: Store) -> None:
    now = later()
    assert store.acquire_duty("reaper", "node-a", 30.0, now=now)

    assert store.acquire_duty("reaper", "node-a", 30.0, now=now + 20)

    assert not store.acquire_duty("reaper", "node-b", 30.0, now=now + 35)
    assert store.acquire_duty("reaper", "node-a", 30.0, now=now + 40)


def test_another_node_takes_over_an_expired_duty(store: Store) -> None:
    now = later()
    assert store.acquire_duty("reaper", "node-a", 30.0, now=now)

    assert store.acquire_duty("reaper", "node-b", 30.0, now=now + 31)

    assert not store.acquire_duty("reaper", "node-a", 30.0, now=now + 32)
    assert store.acquire_duty("reaper", "node-b", 30.0, now=now + 32)


def test_duties_are_held_independently(store: Store) -> None:
    now = later()

    assert store.acquire_duty("reaper", "node-a", 30.0, now=now)
    assert store.acquire_duty("pruner", "node-b", 30.0, now=now)

    assert not store.acquire_duty("pruner", "node-a", 30.0, now=now + 1)
    assert not store.acquire_duty("reaper", "node-b", 30.0, now=now + 1)
