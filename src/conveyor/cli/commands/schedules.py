"""`conveyor schedules ...`: periodic tasks, those of an app's code and those stored."""

from __future__ import annotations

import json

import click

from conveyor.cli.loading import load_app
from conveyor.cli.options import client, url_option
from conveyor.cli.render import console, schedules_table
from conveyor.settings import resolve_url


@click.group()
def schedules() -> None:
    """Periodic tasks: @app.periodic in code, or stored (queue file `cron:`, HTTP, CLI)."""


@schedules.command("list")
@click.option(
    "--app",
    "app_spec",
    default=None,
    metavar="MODULE:APP",
    help="Also list the schedules this app declares in code.",
)
@url_option
def schedules_list(app_spec: str | None, url: str | None) -> None:
    """Each schedule with its next run, by the store's clock."""
    if app_spec is None:
        app = client(url)
    else:
        app = load_app(app_spec)
        if url:
            app.url = resolve_url(url)
        click.get_current_context().call_on_close(app.close)
    schedules_table(app.schedules())


@schedules.command("set")
@click.argument("name")
@click.option("--task", required=True, help="The task to enqueue at each tick, by name.")
@click.option("--cron", default=None, help="Five cron fields, e.g. '0 3 * * *'.")
@click.option("--every", type=float, default=None, help="Or: seconds between ticks.")
@click.option("--timezone", default="UTC", show_default=True, help="Zone the cron fields use.")
@click.option("--queue", default="default", show_default=True)
@click.option("--args", "args_json", default="[]", help="Arguments as a JSON array.")
@click.option("--kwargs", "kwargs_json", default="{}", help="Keyword arguments as a JSON object.")
@click.option("--misfire", type=click.Choice(["once", "skip"]), default="once", show_default=True)
@url_option
def schedules_set(
    name: str,
    task: str,
    cron: str | None,
    every: float | None,
    timezone: str,
    queue: str,
    args_json: str,
    kwargs_json: str,
    misfire: str,
    url: str | None,
) -> None:
    """Store schedule NAME (replacing one of that name); every node fires it."""
    try:
        args, kwargs = json.loads(args_json), json.loads(kwargs_json)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"--args/--kwargs is not valid JSON: {exc}") from None
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise click.BadParameter("--args must be a JSON array and --kwargs a JSON object")
    info = client(url).set_schedule(
        name,
        task,
        cron=cron,
        every=every,
        timezone=timezone,
        queue=queue,
        args=args,
        kwargs=kwargs,
        misfire=misfire,
    )
    schedules_table([info])


@schedules.command("delete")
@click.argument("name")
@url_option
def schedules_delete(name: str, url: str | None) -> None:
    """Remove stored schedule NAME (schedules in code stay in code)."""
    client(url).delete_schedule(name)
    console.print(f"deleted: {name}", markup=False, highlight=False)
