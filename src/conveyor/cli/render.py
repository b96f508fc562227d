"""Tables and detail views: the only module that imports rich."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from conveyor.core.task import Task
from conveyor.store.base import QueueStats

# Piped output is read by scripts and people alike: do not squeeze it to 80 columns.
console = Console(width=None if sys.stdout.isatty() else 200)
errors = Console(stderr=True)

STATUS_STYLE = {
    "completed": "green",
    "failed": "red",
    "cancelled": "dim",
    "running": "cyan",
    "scheduled": "magenta",
    "queued": "yellow",
    "waiting": "blue",
}


def _when(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _status(task: Task) -> str:
    style = STATUS_STYLE.get(str(task.status), "")
    return f"[{style}]{task.status}[/{style}]" if style else str(task.status)


def tasks_table(tasks: Sequence[Task], title: str = "tasks") -> None:
    table = Table(title=title)
    for column in ("id", "name", "queue", "status", "priority", "attempts", "created", "run at"):
        table.add_column(column, no_wrap=column == "id")
    for t in tasks:
        table.add_row(
            t.id,
            t.name,
            t.queue,
            _status(t),
            str(t.priority),
            f"{t.attempts}/{t.max_attempts}",
            _when(t.created_at),
            _when(t.run_at),
        )
    console.print(table)


def dead_letters_table(tasks: Sequence[Task]) -> None:
    table = Table(title="dead letters (failed tasks)")
    for column in ("id", "name", "queue", "attempts", "failed at", "last error"):
        table.add_column(column, no_wrap=column == "id", overflow="fold")
    for t in tasks:
        last = t.errors[-1]["error"] if t.errors else ""
        table.add_row(t.id, t.name, t.queue, str(t.attempts), _when(t.finished_at), last)
    console.print(table)


def task_detail(task: Task) -> None:
    table = Table(show_header=False, title=f"task {task.id}")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    rows = [
        ("name", task.name),
        ("queue", task.queue),
        ("status", _status(task)),
        ("priority", str(task.priority)),
        ("attempts", f"{task.attempts}/{task.max_attempts}"),
        ("args", json.dumps(task.args)),
        ("kwargs", json.dumps(task.kwargs)),
        ("result", json.dumps(task.result)),
        ("idempotency key", task.idempotency_key or ""),
        ("created", _when(task.created_at)),
        ("run at", _when(task.run_at)),
        ("started", _when(task.started_at)),
        ("finished", _when(task.finished_at)),
        ("worker", task.worker_id or ""),
    ]
    for name, value in rows:
        table.add_row(name, value if name == "status" else escape(value))
    console.print(table)
    for entry in task.errors:
        console.print(
            f"[red]attempt {entry.get('attempt')}[/red] {entry.get('at', '')}: "
            f"{entry.get('error', '')}",
            markup=True,
            highlight=False,
        )
        if entry.get("traceback"):
            console.print(entry["traceback"], markup=False, highlight=False)


def queues_table(stats: Sequence[QueueStats]) -> None:
    states = ("queued", "scheduled", "running", "completed", "failed", "cancelled")
    table = Table(title="queues")
    table.add_column("queue")
    for state in states:
        table.add_column(state, justify="right")
    table.add_column("oldest queued", justify="right")
    for s in stats:
        age = "" if s.oldest_queued_age is None else f"{s.oldest_queued_age:.1f}s"
        table.add_row(s.queue, *(str(s.counts.get(state, 0)) for state in states), age)
    console.print(table)
