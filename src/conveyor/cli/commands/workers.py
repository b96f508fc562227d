"""`conveyor workers list` and `conveyor top`: the worker registry and a live view."""

from __future__ import annotations

from collections.abc import Sequence

import click

from conveyor.app import QueueInfo
from conveyor.cli.options import client, url_option
from conveyor.cli.render import top as render_top
from conveyor.cli.render import workers_table
from conveyor.core.workers import WorkerInfo


@click.group()
def workers() -> None:
    """Workers: who runs, where, on which queues, and whether they are alive."""


@workers.command("list")
@url_option
def workers_list(url: str | None) -> None:
    """Every registered worker; dead ones missed three heartbeats, stopped ones stopped."""
    workers_table(client(url).workers())


@click.command()
@url_option
@click.option(
    "--interval",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds between redraws.",
)
@click.option("--once", is_flag=True, help="Print one frame and exit.")
def top(url: str | None, interval: float, once: bool) -> None:
    """A live view of queues and workers; Ctrl-C leaves."""
    app = client(url)

    def read() -> tuple[Sequence[QueueInfo], Sequence[WorkerInfo]]:
        return app.queues(), app.workers()

    render_top(read, app.url, interval, once)
