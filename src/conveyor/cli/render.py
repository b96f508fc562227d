"""Tables and detail views: the only module that imports rich."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from conveyor.app import QueueInfo, ScheduleInfo
from conveyor.core.queue import DURATIONS, QueueSettings
from conveyor.core.target import Target
from conveyor.core.task import RetryPolicy, Task
from conveyor.core.workers import WorkerInfo, WorkerState
from conveyor.core.workflow import WorkflowView

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


def workflow_table(view: WorkflowView) -> None:
    """Members in enqueue order; `waits for` names parents by their row number."""
    row_of = {t.id: str(n) for n, t in enumerate(view.tasks, 1)}
    table = Table(title=f"workflow {view.id}")
    for column in ("#", "id", "name", "status", "waits for", "attempts", "result / error"):
        table.add_column(column, no_wrap=column == "id", overflow="fold")
    for n, t in enumerate(view.tasks, 1):
        outcome = json.dumps(t.result) if t.status == "completed" else ""
        if t.errors:
            outcome = str(t.errors[-1].get("error", ""))
        table.add_row(
            str(n),
            t.id,
            t.name,
            _status(t),
            ", ".join(row_of.get(p, p) for p in view.parents(t.id)),
            f"{t.attempts}/{t.max_attempts}",
            escape(outcome[:120]),
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


COUNTED = ("queued", "scheduled", "running", "completed", "failed", "cancelled", "waiting")
"""States counted in `queues list`, in column order (scripts read the first six)."""

_UNITS = (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0))


def enqueue_progress() -> Progress:
    """The progress bar of `conveyor enqueue --from-file`, on stderr."""
    return Progress(
        TextColumn("enqueuing"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=errors,
        transient=True,
    )


def rate_text(rate: float) -> str:
    """`50/s`, `30/m`, `100/h` or `1/d`: the largest unit that shows at least one."""
    for unit, seconds in (("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if rate * seconds >= 1 - 1e-9:
            return f"{rate * seconds:.6g}/{unit}"
    return f"{rate * 86400:.6g}/d"


def duration_text(seconds: float) -> str:
    """`2h`, `90m`, `1.5s`: the largest unit the duration is a whole number of."""
    for unit, size in _UNITS:
        count = seconds / size
        if seconds >= size and abs(count - round(count)) < 1e-9:
            return f"{round(count)}{unit}"
    return f"{seconds:.6g}s"


def _age(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}s"


def _limit_text(value: float | None, text: str = "") -> str:
    return "-" if value is None else (text or str(value))


def _rate_cell(s: QueueSettings) -> str:
    if s.rate is None:
        return "-" if s.burst is None else f"burst {s.burst}"
    return rate_text(s.rate) + ("" if s.burst is None else f", burst {s.burst}")


def _retry_cell(s: QueueSettings) -> str:
    parts = []
    if s.max_attempts is not None:
        parts.append(f"{s.max_attempts} attempts")
    if s.min_backoff is not None or s.max_backoff is not None:
        low = "" if s.min_backoff is None else duration_text(s.min_backoff)
        high = "" if s.max_backoff is None else duration_text(s.max_backoff)
        parts.append(f"backoff {low or '…'}..{high or '…'}")
    if s.max_doublings is not None:
        parts.append(f"{s.max_doublings} doublings")
    return ", ".join(parts) or "-"


def queues_table(queues: Sequence[QueueInfo]) -> None:
    """Every queue: tasks by state, the oldest queued task's age, pause and limits."""
    table = Table(title="queues")
    table.add_column("queue", overflow="fold")
    for state in COUNTED:
        table.add_column(state, justify="right")
    table.add_column("oldest queued", justify="right")
    table.add_column("paused")
    for column in ("rate", "max concurrent", "max per key", "retry", "age limit"):
        table.add_column(column)
    for q in queues:
        s = q.settings
        table.add_row(
            escape(q.name),
            *(str(q.counts.get(state, 0)) for state in COUNTED),
            _age(q.oldest_queued_age),
            "[yellow]yes[/yellow]" if q.paused else "no",
            _rate_cell(s),
            _limit_text(s.max_concurrent),
            _limit_text(s.max_per_key),
            _retry_cell(s),
            "-" if s.age_limit is None else duration_text(s.age_limit),
        )
    console.print(table)


_DEFAULT = RetryPolicy()
UNSET = {
    "rate": "no limit",
    "burst": "1 (default)",
    "max_concurrent": "no limit",
    "max_per_key": "no limit",
    "max_attempts": f"the task's own, else {_DEFAULT.max_attempts}",
    "min_backoff": f"the task's own, else {duration_text(_DEFAULT.min_backoff)}",
    "max_backoff": f"the task's own, else {duration_text(_DEFAULT.max_backoff)}",
    "max_doublings": f"the task's own, else {_DEFAULT.max_doublings}",
    "age_limit": "no limit",
    "lease_seconds": "the worker's (30s unless set)",
    "completed_retention": "the server's (7d unless set)",
    "failed_retention": "the server's (30d unless set)",
    "priority": "normal",
    "target": "none: workers run this queue's tasks",
    "secret": "none: push requests are not signed",
    "previous_secret": "none",
    "secret_fields": "none: payloads are shown in full",
}
"""What a setting left unset means, as `queues show` says it."""

SECRETS = ("secret", "previous_secret")
"""Settings shown only as set or not, never in clear."""

SETTINGS = ("paused", *UNSET)
"""Every setting, in the order `queues show` and `queues apply` list them."""


def setting_text(name: str, value: object) -> str:
    """A setting's value as people write it: `50/s`, `2h`, `high`; '' when unset."""
    if value is None:
        return ""
    if name == "paused":
        return "yes" if value else "no"
    if name in SECRETS:
        return "set"
    if name == "secret_fields" and isinstance(value, tuple):
        return ", ".join(value)
    if isinstance(value, Target):
        headers = f", headers {', '.join(value.headers)}" if value.headers else ""
        return f"{value.method} {value.url} (deadline {duration_text(value.deadline)}{headers})"
    if name == "rate" and isinstance(value, float | int):
        return rate_text(float(value))
    if name in DURATIONS and isinstance(value, float | int):
        return duration_text(float(value))
    return str(value)


def queue_detail(info: QueueInfo) -> None:
    """One queue: its counts, then every setting with what an unset one means."""
    table = Table(show_header=False, title=f"queue {escape(info.name)}")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    counts = ", ".join(f"{state} {info.counts.get(state, 0)}" for state in COUNTED)
    table.add_row("tasks", counts)
    table.add_row("oldest queued", _age(info.oldest_queued_age) or "-")
    for name in SETTINGS:
        value = getattr(info.settings, name)
        text = setting_text(name, value)
        table.add_row(name, escape(text) if text else f"[dim]{escape(UNSET[name])}[/dim]")
    console.print(table)


def settings_changes_table(
    pairs: Sequence[tuple[QueueSettings, QueueSettings]], title: str = "queue settings"
) -> None:
    """What changed per queue, from `before` to `after`; unchanged queues say so."""
    table = Table(title=title)
    for column in ("queue", "setting", "before", "after"):
        table.add_column(column, overflow="fold")
    for before, after in pairs:
        changed = [n for n in SETTINGS if getattr(before, n) != getattr(after, n)]
        if not changed:
            table.add_row(escape(after.name), "[dim](unchanged)[/dim]", "", "")
        for name in changed:
            old = setting_text(name, getattr(before, name)) or "(default)"
            new = setting_text(name, getattr(after, name)) or "(default)"
            if name in SECRETS and old == new:
                new = "set (changed)"
            table.add_row(escape(after.name), name, escape(old), escape(new))
    console.print(table)


def schedules_table(schedules: Sequence[ScheduleInfo]) -> None:
    table = Table(title="schedules")
    for column in ("name", "task", "queue", "when", "misfire", "next run (UTC)", "from"):
        table.add_column(column)
    for info in schedules:
        s = info.schedule
        table.add_row(
            escape(s.name),
            escape(s.task),
            escape(s.queue),
            escape(s.rule.describe()),
            str(s.misfire),
            _when(info.next_run),
            "store" if info.stored else "code",
        )
    console.print(table)


WORKER_STYLE = {WorkerState.ALIVE: "green", WorkerState.DEAD: "red", WorkerState.STOPPED: "dim"}


def span_text(seconds: float) -> str:
    """`4.2s`, `5m 3s`, `2h 5m`, `3d 4h`: a span as people read it at a glance.

    >>> span_text(3725)
    '1h 2m'
    """
    whole = int(seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{whole // 60}m {whole % 60}s"
    if seconds < 86400:
        return f"{whole // 3600}h {whole % 3600 // 60}m"
    return f"{whole // 86400}d {whole % 86400 // 3600}h"


def _ago(value: datetime, now: datetime) -> str:
    return f"{span_text(max(0.0, (now - value).total_seconds()))} ago"


def workers_view(workers: Sequence[WorkerInfo], now: datetime | None = None) -> Table:
    """Every registered worker: where it runs, what it consumes, how busy, alive or not."""
    at = now or datetime.now(UTC)
    table = Table(title="workers")
    for column in ("id", "host", "pid", "queues", "in flight", "started (UTC)", "last seen"):
        table.add_column(column, overflow="fold")
    table.add_column("state")
    for w in workers:
        style = WORKER_STYLE[w.state]
        table.add_row(
            escape(w.id),
            escape(w.host),
            str(w.pid),
            escape(",".join(w.queues)),
            f"{w.in_flight}/{w.concurrency}",
            _when(w.started_at),
            _ago(w.last_seen, at),
            f"[{style}]{w.state}[/{style}]",
        )
    return table


def workers_table(workers: Sequence[WorkerInfo]) -> None:
    console.print(workers_view(workers))


TOP_STATES = ("queued", "scheduled", "running", "completed", "failed")


def _top_queues(queues: Sequence[QueueInfo], workers: Sequence[WorkerInfo]) -> Table:
    table = Table(title="queues")
    table.add_column("queue", overflow="fold")
    for state in TOP_STATES:
        table.add_column(state, justify="right")
    table.add_column("oldest queued", justify="right")
    table.add_column("workers", justify="right")
    table.add_column("paused")
    alive = [w for w in workers if w.alive]
    for q in queues:
        table.add_row(
            escape(q.name),
            *(str(q.counts.get(state, 0)) for state in TOP_STATES),
            _age(q.oldest_queued_age),
            str(sum(1 for w in alive if q.name in w.queues)),
            "[yellow]yes[/yellow]" if q.paused else "no",
        )
    return table


def _without_password(url: str) -> str:
    """postgresql://user:secret@host/db → postgresql://user@host/db"""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, host = rest.rsplit("@", 1)
    return f"{scheme}://{credentials.split(':', 1)[0]}@{host}"


TopRead = Callable[[], tuple[Sequence[QueueInfo], Sequence[WorkerInfo]]]


def top_frame(read: TopRead, url: str) -> RenderableType:
    """One frame of `conveyor top`; a store that does not answer is shown, not raised."""
    now = datetime.now(UTC)
    header = f"[bold]conveyor top[/bold]  {escape(_without_password(url))}  {_when(now)} UTC"
    try:
        queues, workers = read()
    except Exception as exc:
        return Group(header, f"[red]store unavailable:[/red] {escape(str(exc))}")
    alive = sum(1 for w in workers if w.alive)
    summary = f"{alive} worker(s) alive, {len(workers) - alive} dead or stopped"
    return Group(header, summary, _top_queues(queues, workers), workers_view(workers, now))


def top(read: TopRead, url: str, interval: float, once: bool) -> None:
    """Print one frame, or redraw every `interval` seconds until Ctrl-C."""
    if once:
        console.print(top_frame(read, url))
        return
    try:
        with Live(top_frame(read, url), console=console, screen=False, auto_refresh=False) as live:
            while True:
                time.sleep(interval)
                live.update(top_frame(read, url), refresh=True)
    except KeyboardInterrupt:
        return
