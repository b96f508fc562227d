"""`conveyor queues ...`: list, show, set, pause, resume, and apply a queue.yaml file."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from conveyor.cli.options import client, push_allow_option, url_option
from conveyor.cli.render import (
    SETTINGS,
    console,
    errors,
    queue_detail,
    queues_table,
    settings_changes_table,
)
from conveyor.core.limits import parse_duration, parse_rate
from conveyor.core.queue import QueueSettings
from conveyor.errors import ConfigurationError
from conveyor.queue_yaml import (
    LARGEST_WHOLE,
    QueueFileError,
    load_queue_document,
    updated_settings,
)


def _parsed(parse: Callable[[str], float]) -> Callable[..., float | None]:
    """An option callback: the value spelled as people write it (`50/s`, `2h`), checked
    by Conveyor's own parser."""

    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
        if value is None:
            return None
        try:
            return parse(value)
        except ConfigurationError as exc:
            raise click.BadParameter(str(exc), ctx, param) from None

    return callback


def _secret(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """`-` reads the secret from stdin, keeping it out of shell history and `ps`."""
    if value != "-":
        return value
    line = sys.stdin.readline().strip()
    if not line:
        raise click.BadParameter("stdin gave an empty secret", ctx, param)
    return line


SECRET = _secret
RATE = _parsed(parse_rate)
DURATION = _parsed(parse_duration)
COUNT = click.IntRange(1, LARGEST_WHOLE)


@click.group()
def queues() -> None:
    """Queues: counts, limits and settings."""


@queues.command("list")
@url_option
def queues_list(url: str | None) -> None:
    """Every queue with its tasks by state, pause and limits."""
    queues_table(client(url).queues())


@queues.command("show")
@click.argument("name")
@url_option
def queues_show(name: str, url: str | None) -> None:
    """One queue: its counts and every setting."""
    queue_detail(client(url).queue_info(name))


@queues.command("set")
@click.argument("name")
@click.option("--rate", callback=RATE, help="Tasks started per second: 50/s, 30/m, 100/h, 1/d.")
@click.option("--burst", type=COUNT, help="Token bucket size: starts allowed at once.")
@click.option("--max-concurrent", type=COUNT, help="Tasks running at once, all workers.")
@click.option("--max-per-key", type=COUNT, help="Tasks of one concurrency_key running at once.")
@click.option("--max-attempts", type=COUNT, help="Attempts per task, the first included.")
@click.option("--min-backoff", callback=DURATION, help="Delay before the first retry: 10s, 1m.")
@click.option("--max-backoff", callback=DURATION, help="Longest delay between retries: 1h.")
@click.option("--max-doublings", type=click.IntRange(0, LARGEST_WHOLE), help="Backoff doublings.")
@click.option("--age-limit", callback=DURATION, help="No retries after this long from enqueue.")
@click.option("--lease-seconds", callback=DURATION, help="Lease of this queue's attempts.")
@click.option("--priority", type=click.Choice(["high", "normal", "low"]), help="Default priority.")
@click.option("--completed-retention", callback=DURATION, help="Keep completed tasks: 7d.")
@click.option("--failed-retention", callback=DURATION, help="Keep failed tasks this long: 30d.")
@click.option(
    "--target",
    "target_url",
    help="Push tasks to this URL ({type} in the path: the task's type). Needs the allow-list.",
)
@click.option("--target-method", type=click.Choice(["POST", "PUT", "PATCH"]), help="Default POST.")
@click.option(
    "--target-header",
    "target_headers",
    multiple=True,
    metavar="NAME:VALUE",
    help="Extra header on every push request (repeatable).",
)
@click.option("--deadline", callback=DURATION, help="Push handler's time to answer: 30s, 10m.")
@click.option(
    "--secret",
    callback=SECRET,
    help="Signs push requests (Conveyor-Signature); never shown. '-' reads it from stdin.",
)
@click.option("--previous-secret", callback=SECRET, help="Also signs, during a rotation.")
@click.option(
    "--rotate-secret",
    metavar="NEW",
    callback=SECRET,
    help="Sign with NEW, and with the current secret too until --clear previous_secret.",
)
@click.option(
    "--secret-field",
    "secret_fields",
    multiple=True,
    metavar="KEY",
    help="Payload key shown as *** to readers and in logs (repeatable; replaces the list).",
)
@click.option(
    "--clear",
    "cleared",
    multiple=True,
    type=click.Choice([s for s in SETTINGS if s != "paused"]),
    help="Set back to its default (repeatable).",
)
@url_option
@push_allow_option
def queues_set(
    name: str, cleared: tuple[str, ...], url: str | None, push_allow: str | None, **given: Any
) -> None:
    """Change settings of queue NAME; settings not named keep their values."""
    app = client(url, push_allow)
    before = app.queue_settings(name)
    # `multiple` options give () when absent: not given, not "set to nothing".
    changes = {key: value for key, value in given.items() if value not in (None, ())}
    _target_changes(changes, before)
    both = sorted(set(changes) & set(cleared))
    if both:
        flags = ", ".join(f"--{key.replace('_', '-')}" for key in both)
        raise click.UsageError(f"{flags} given with --clear of the same setting")
    changes.update(dict.fromkeys(cleared))
    if not changes:
        raise click.UsageError("give at least one setting to change (see --help)")
    try:
        after = app.queue(name, **changes)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    settings_changes_table([(before, after)])


def _target_changes(changes: dict[str, Any], before: QueueSettings) -> None:
    """Fold the --target-* flags into one `target` setting, the rest of a stored target
    kept; --rotate-secret into secret and previous_secret."""
    parts = {
        "url": changes.pop("target_url", None),
        "method": changes.pop("target_method", None),
        "headers": _headers(changes.pop("target_headers", ())),
        "deadline": changes.pop("deadline", None),
    }
    given = {key: value for key, value in parts.items() if value}
    if given:
        if before.target is None and "url" not in given:
            raise click.UsageError(f"queue {before.name!r} has no target yet: give --target URL")
        changes["target"] = {**(before.target.to_json() if before.target else {}), **given}
    rotated = changes.pop("rotate_secret", None)
    if rotated is not None:
        if "secret" in changes or "previous_secret" in changes:
            raise click.UsageError("--rotate-secret replaces --secret and --previous-secret")
        changes["secret"], changes["previous_secret"] = rotated, before.secret


def _headers(values: tuple[str, ...]) -> dict[str, str]:
    headers = {}
    for value in values:
        header, sep, text = value.partition(":")
        if not sep or not header.strip():
            raise click.BadParameter(
                f"{value!r} must look like NAME:VALUE", param_hint="--target-header"
            )
        headers[header.strip()] = text.strip()
    return headers


@queues.command("pause")
@click.argument("name")
@url_option
def queues_pause(name: str, url: str | None) -> None:
    """Stop handing out NAME's tasks; attempts already running finish."""
    client(url).pause(name)
    console.print(f"paused: {name}", markup=False, highlight=False)


@queues.command("resume")
@click.argument("name")
@url_option
def queues_resume(name: str, url: str | None) -> None:
    """Hand out NAME's tasks again."""
    client(url).resume(name)
    console.print(f"resumed: {name}", markup=False, highlight=False)


@queues.command("apply")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check and show the changes; apply nothing.")
@url_option
@push_allow_option
def queues_apply(file: str, dry_run: bool, url: str | None, push_allow: str | None) -> None:
    """Apply a queue.yaml FILE (App Engine's format, plus Conveyor's keys): the whole file
    is checked first, and nothing is applied unless all of it is valid."""
    app = client(url, push_allow)
    try:
        document = load_queue_document(file)
        changes = document.queues
        before = [app.queue_settings(change.name) for change in changes]
        if dry_run:
            after = updated_settings(changes, app.queue_settings)
            app.check_push_targets(changes)
        else:
            after = app.apply_queue_changes(changes, document.schedules)
    except QueueFileError as exc:
        for problem in exc.problems:
            errors.print(str(problem), markup=False, highlight=False, soft_wrap=True)
        count = len(exc.problems)
        raise click.ClickException(
            f"{count} problem{'s' if count != 1 else ''} in {file}; nothing was applied"
        ) from None
    title = "queue settings (dry run: nothing applied)" if dry_run else "queue settings applied"
    settings_changes_table(list(zip(before, after, strict=True)), title=title)
    if document.schedules:
        verb = "would store" if dry_run else "stored"
        names = ", ".join(spec.name for spec in document.schedules)
        console.print(f"schedules {verb}: {names}", markup=False, highlight=False)
    for change in changes:
        if change.ignored:
            console.print(
                f"{change.name}: ignored (no effect in Conveyor): {', '.join(change.ignored)}",
                markup=False,
                highlight=False,
            )
