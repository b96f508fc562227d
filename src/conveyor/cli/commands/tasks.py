"""`conveyor enqueue`, `conveyor tasks ...` and `conveyor dlq ...`."""

from __future__ import annotations

import json
from typing import Any

import click

from conveyor.cli.options import client, url_option
from conveyor.cli.render import console, dead_letters_table, task_detail, tasks_table
from conveyor.core.task import Status


def _json_option(value: str, what: str, kind: type) -> Any:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(parsed, kind):
        raise click.BadParameter(f"{what} must be a JSON {'array' if kind is list else 'object'}")
    return parsed


@click.command()
@click.argument("name")
@click.option("--args", "args_json", default="[]", help="Positional arguments as a JSON array.")
@click.option("--kwargs", "kwargs_json", default="{}", help="Keyword arguments as a JSON object.")
@click.option("--queue", default=None)
@click.option("--priority", type=click.Choice(["high", "normal", "low"]), default=None)
@click.option("--delay", type=float, default=0.0, help="Seconds before the task may run.")
@click.option("--idempotency-key", default=None)
@click.option("--max-attempts", type=int, default=None)
@url_option
def enqueue(
    name: str,
    args_json: str,
    kwargs_json: str,
    queue: str | None,
    priority: str | None,
    delay: float,
    idempotency_key: str | None,
    max_attempts: int | None,
    url: str | None,
) -> None:
    """Enqueue task NAME."""
    args = _json_option(args_json, "--args", list)
    kwargs = _json_option(kwargs_json, "--kwargs", dict)
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
    console.print(f"{state}: [bold]{handle.id}[/bold] ({handle.task.status})")


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
