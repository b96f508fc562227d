"""Migrations: applied once, and a second run applies nothing and loses nothing."""

from __future__ import annotations

from conveyor.store import Store, open_store
from tests.factories import enqueued


def test_migrate_applies_every_version_once(empty_store_url: str) -> None:
    store = open_store(empty_store_url, migrate=False)
    try:
        first = store.migrate()
        second = store.migrate()
        task = enqueued(store)
        stored = store.get(task.id)
    finally:
        store.close()

    assert first
    assert first == sorted(first)
    assert second == []
    assert stored == task


def test_migrating_a_migrated_store_applies_nothing_and_keeps_tasks(store: Store) -> None:
    task = enqueued(store)

    assert store.migrate() == []

    assert store.get(task.id) == task
