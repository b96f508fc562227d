"""`conveyor enqueue`, `conveyor tasks ...` and `conveyor dlq ...`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import click

from conveyor.cli.options import client, url_option
from conveyor.cli.render import (
    console,
    dead_letters_table,
    enqueue_progress,
    task_detail,
    tasks_table,
)
from conveyor.core.task import Status


def _json_option(value: str, what: str, kind: type) -> Any:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(parsed, kind):
        raise click.BadParameter(f"{what} must be a JSON {'array' if kind is list else 'object'}")
    return parsed


def _jsonl_items(path: str) -> Iterator[list[Any] | dict[str, Any]]:
    """The lines of a JSONL file, one at a time: an array (args) or an object (kwargs)."""
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise click.ClickException(
                    f"{path}, line {number}: not valid JSON: {exc}"
                ) from None
            if not isinstance(item, list | dict):
                raise click.ClickException(
                    f"{path}, line {number}: must be a JSON array (args) or object (kwargs), "
                    f"not {type(item).__name__}"
                )
            yield item


@click.command()
@click.argument("name")
@click.option("--args", "args_json", default=None, help="Positional arguments as a JSON array.")
@click.option("--kwargs", "kwargs_json", default=None, help="Keyword arguments as a JSON object.")
@click.option(
    "--from-file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Enqueue a batch: one task per line, a JSON array (args) or object (kwargs).",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="With --from-file: tasks per transaction.",
)
@click.option("--queue", default=None)
@click.option("--priority", type=click.Choice(["high", "normal", "low"]), default=None)
@click.option("--delay", type=float, default=0.0, help="Seconds before the task may run.")
@click.option("--idempotency-key", default=None)
@click.option("--max-attempts", type=int, default=None)
@url_option
def enqueue(
    name: str,
    args_json: str | None,
    kwargs_json: str | None,
    from_file: str | None,
    chunk_size: int,
    queue: str | None,
    priority: str | None,
    delay: float,
    idempotency_key: str | None,
    max_attempts: int | None,
    url: str | None,
) -> None:
    """Enqueue task NAME, or one task NAME per line of --from-file.

    A file is read twice, streaming: every line is checked first, so a bad line
    enqueues nothing; then it is enqueued --chunk-size lines per transaction.
    With a file, --idempotency-key is a prefix: line N (from 0) gets KEY:N.
    """
    if from_file is not None:
        if args_json is not None or kwargs_json is not None:
            raise click.UsageError("--from-file cannot be combined with --args or --kwargs")
        _enqueue_file(
            name,
            from_file,
            chunk_size,
            url,
            queue=queue,
            priority=priority,
            delay=delay,
            idempotency_key=idempotency_key,
            max_attempts=max_attempts,
        )
        return
    args = _json_option(args_json or "[]", "--args", list)
    kwargs = _json_option(kwargs_json or "{}", "--kwargs", dict)
    handle = client(url).enqueue(
        name,
        args,
        kwargs,
        queue=queue,
        priority=priority,
        delay=delay,
        idempotency_key=idempotency_key,
        max_attempts=max_attempts,
    )
    state = "enqueued" if handle.created else "already enqueued (same idempotency key)"
    console.print(f"{state}: [bold]{handle.id}[/bold] ({handle.status})")


def _enqueue_file(name: str, path: str, chunk_size: int, url: str | None, **options: Any) -> None:
    total = sum(1 for _ in _jsonl_items(path))  # checks every line before enqueuing any
    app = client(url)
    started = time.monotonic()
    with enqueue_progress() as bar:
        progress = bar.add_task("enqueue", total=total)
        batch = app.map(
            name,
            _jsonl_items(path),
            chunk_size,
            on_progress=lambda count: bar.update(progress, completed=count),
            **options,
        )
    elapsed = time.monotonic() - started
    rate = len(batch) / elapsed if elapsed > 0 else 0.0
    console.print(
        f"enqueued batch [bold]{batch.id}[/bold]: {len(batch)} task(s) "
        f"in {elapsed:.2f}s ({rate:,.0f} tasks/s)"
    )


@click.group()
def tasks() -> None:
    """Inspect and cancel tasks."""


@tasks.command("list")
@click.option("--status", type=click.Choice([s.value for s in Status]), default=None)
@click.option("--queue", default=None)
@click.option("--name", default=None, help="Only tasks with this name.")
@click.option("--limit", default=50, show_default=True)
@click.option("--cursor", default=None, help="Continue from a previous page.")
@url_option
def tasks_list(
    status: str | None,
    queue: str | None,
    name: str | None,
    limit: int,
    cursor: str | None,
    url: str | None,
) -> None:
    """List tasks, newest first."""
    page = client(url).list_tasks(queue=queue, status=status, name=name, limit=limit, cursor=cursor)
    tasks_table(page.tasks)
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}")


@tasks.command("show")
@click.argument("task_id")
@url_option
def tasks_show(task_id: str, url: str | None) -> None:
    """Show one task with its error history."""
    task_detail(client(url).get(task_id))


@tasks.command("cancel")
@click.argument("task_id")
@url_option
def tasks_cancel(task_id: str, url: str | None) -> None:
    """Cancel a task that has not finished."""
    task = client(url).cancel(task_id)
    console.print(f"{task.id}: {task.status}")


@click.group()
def dlq() -> None:
    """The dead-letter queue: tasks that failed for good."""


@dlq.command("list")
@click.option("--queue", default=None)
@click.option("--limit", default=50, show_default=True)
@click.option("--cursor", default=None)
@url_option
def dlq_list(queue: str | None, limit: int, cursor: str | None, url: str | None) -> None:
    """List failed tasks with their last error."""
    page = client(url).list_tasks(queue=queue, status=Status.FAILED, limit=limit, cursor=cursor)
    dead_letters_table(page.tasks)
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}")


@dlq.command("replay")
@click.argument("task_ids", nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="Replay every failed task.")
@click.option("--queue", default=None, help="With --all: only this queue.")
@url_option
def dlq_replay(
    task_ids: tuple[str, ...], replay_all: bool, queue: str | None, url: str | None
) -> None:
    """Put failed tasks back in their queue with fresh attempts."""
    if bool(task_ids) == replay_all:
        raise click.UsageError("give task ids or --all (not both)")
    replayed = client(url).replay(None if replay_all else list(task_ids), queue)
    missing = set(task_ids) - set(replayed)
    console.print(f"replayed {len(replayed)} task(s)")
    if missing:
        raise click.ClickException(f"not failed or not found: {', '.join(sorted(missing))}")


@dlq.command("purge")
@click.argument("task_ids", nargs=-1)
@click.option("--queue", default=None, help="Only this queue.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@url_option
def dlq_purge(task_ids: tuple[str, ...], queue: str | None, yes: bool, url: str | None) -> None:
    """Delete failed tasks (all of them, or the ids given)."""
    if not task_ids and not yes:
        click.confirm(f"delete every failed task{f' of {queue}' if queue else ''}?", abort=True)
    count = client(url).purge(list(task_ids) or None, queue)
    console.print(f"purged {count} task(s)")


@click.command()
@url_option
def migrate(url: str | None) -> None:
    """Create or upgrade the store's schema."""
    applied = client(url).migrate()
    console.print(f"applied migrations: {applied}" if applied else "schema is up to date")
