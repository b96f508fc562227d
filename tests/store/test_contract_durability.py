"""Invariant 1: once `enqueue` returns, the task survives the process that stored it."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from conveyor.core.task import Priority, RetryPolicy, Status
from conveyor.store import Store, open_store
from tests.factories import new_task


def test_enqueued_task_survives_closing_and_reopening_the_store(store_url: str) -> None:
    writer = open_store(store_url)
    before = time.time()
    [result] = writer.enqueue(
        [
            new_task(
                name="send_report",
                queue="reports",
                args=[1, "two", {"three": [3.5, None, True]}],
                kwargs={"to": "ops@example.com", "tags": ["a", "b"], "nested": {"k": "v"}},
                priority=Priority.HIGH,
                retry=RetryPolicy(
                    max_attempts=7, min_backoff=2.5, max_backoff=120.0, max_doublings=4
                ),
                timeout=30.0,
                delay=600.0,
                idempotency_key="report-2030-01",
            )
        ]
    )
    writer.close()

    reader = open_store(store_url)
    try:
        task = reader.get(result.id)
    finally:
        reader.close()

    assert task is not None
    assert task.id == result.id
    assert task.created_at == result.created_at
    assert result.status is Status.SCHEDULED
    assert task.name == "send_report"
    assert task.queue == "reports"
    assert task.args == [1, "two", {"three": [3.5, None, True]}]
    assert task.kwargs == {"to": "ops@example.com", "tags": ["a", "b"], "nested": {"k": "v"}}
    assert task.priority is Priority.HIGH
    assert task.retry == RetryPolicy(
        max_attempts=7, min_backoff=2.5, max_backoff=120.0, max_doublings=4
    )
    assert task.max_attempts == 7
    assert task.timeout == 30.0
    assert task.idempotency_key == "report-2030-01"
    assert task.status is Status.SCHEDULED
    assert task.attempts == 0
    assert task.errors == []
    assert task.created_at.timestamp() == pytest.approx(before, abs=2.0)
    assert (task.run_at - task.created_at).total_seconds() == pytest.approx(600.0, abs=1e-3)


def test_explicit_run_at_is_stored_exactly(store_url: str) -> None:
    run_at = datetime(2031, 5, 17, 8, 30, 15, 250000, tzinfo=UTC)
    writer = open_store(store_url)
    [result] = writer.enqueue([new_task(run_at=run_at)])
    writer.close()

    reader = open_store(store_url)
    try:
        task = reader.get(result.id)
    finally:
        reader.close()

    assert task is not None
    assert task.run_at == run_at
    assert task.status is Status.SCHEDULED


def test_every_task_of_a_batch_survives(store_url: str, store: Store) -> None:
    results = store.enqueue([new_task(name=f"job-{i}", args=[i]) for i in range(20)])

    reader = open_store(store_url)
    try:
        stored = [reader.get(r.id) for r in results]
    finally:
        reader.close()

    assert [(t.name, t.args) for t in stored if t is not None] == [
        (f"job-{i}", [i]) for i in range(20)
    ]
