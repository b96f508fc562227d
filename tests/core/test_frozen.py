"""frozen.builder: the same objects as the dataclasses' own __init__, field for field."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime

import pytest

from conveyor.core.frozen import builder
from conveyor.core.task import NewTask, ParentFailure, PassResults, Priority, RetryPolicy, Status
from conveyor.store.base import Enqueued


def test_builds_what_init_builds() -> None:
    values = {
        "name": "send",
        "queue": "mail",
        "args": [1],
        "kwargs": {"a": 2},
        "priority": Priority.HIGH,
        "retry": RetryPolicy(max_attempts=4),
        "timeout": 3.0,
        "delay": 1.5,
        "run_at": datetime(2026, 1, 1, tzinfo=UTC),
        "idempotency_key": "k",
        "group": "g",
        "concurrency_key": "c",
        "workflow_id": "w",
        "parents": (0,),
        "pass_results": PassResults.ONE,
        "on_parent_failure": ParentFailure.RUN,
    }
    assert [f.name for f in fields(NewTask)] == list(values)
    assert builder(NewTask)(tuple(values.values())) == NewTask(**values)  # type: ignore[arg-type]


def test_refuses_a_missing_field() -> None:
    with pytest.raises(TypeError, match="Enqueued has 4 fields, not 3"):
        builder(Enqueued)(("id", True, Status.QUEUED))


def test_built_objects_stay_frozen() -> None:
    receipt = builder(Enqueued)(("id", True, Status.QUEUED, datetime.now(UTC)))
    with pytest.raises(AttributeError):
        receipt.id = "other"  # type: ignore[misc]
