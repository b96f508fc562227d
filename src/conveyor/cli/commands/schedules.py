"""`conveyor schedules list`: the periodic tasks of an app, with their next run."""

from __future__ import annotations

import click

from conveyor.cli.loading import load_app
from conveyor.cli.options import url_option
from conveyor.cli.render import schedules_table
from conveyor.settings import resolve_url


@click.group()
def schedules() -> None:
    """Periodic tasks declared with @app.periodic."""


@schedules.command("list")
@click.option("--app", "app_spec", required=True, metavar="MODULE:APP", help="The app to read.")
@url_option
def schedules_list(app_spec: str, url: str | None) -> None:
    """Each schedule of MODULE:APP with its next run, by the store's clock."""
    app = load_app(app_spec)
    if url:
        app.url = resolve_url(url)
    click.get_current_context().call_on_close(app.close)
    schedules_table(app.schedules())
