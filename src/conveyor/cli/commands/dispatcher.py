"""`conveyor dispatcher`: push delivery on its own, for scale beside the servers."""

from __future__ import annotations

import click

from conveyor.app import Conveyor
from conveyor.cli import eventloop, logs
from conveyor.cli.commands.options import with_log_options, with_loop_option
from conveyor.cli.options import push_allow_option, url_option
from conveyor.worker.config import WorkerConfig


@click.command()
@url_option
@push_allow_option
@click.option(
    "--concurrency",
    default=100,
    show_default=True,
    help="Requests in flight at once; raise it for slow handlers (queue limits still apply).",
)
@click.option(
    "--lease",
    "lease_seconds",
    default=30.0,
    show_default=True,
    help="Seconds a claim holds a task; heartbeats extend it while a request runs.",
)
@click.option(
    "--grace",
    "grace_seconds",
    default=30.0,
    show_default=True,
    help="Seconds to let requests in flight finish after SIGTERM before releasing them.",
)
@with_log_options
@with_loop_option
def dispatcher(
    url: str | None,
    push_allow: str | None,
    concurrency: int,
    lease_seconds: float,
    grace_seconds: float,
    log_level: str,
    log_format: str,
    event_loop: str,
) -> None:
    """POST the tasks of queues with a target to their HTTP handlers."""
    logs.setup(log_level, log_format)
    from conveyor.push.dispatcher import Dispatcher
    from conveyor.worker.runtime import default_duties

    app = Conveyor(url, push_allow=push_allow)
    config = WorkerConfig(
        concurrency=concurrency, lease_seconds=lease_seconds, grace_seconds=grace_seconds
    )
    app.migrate()
    # Leases of a dispatcher that dies must expire somewhere, even with no server running.
    push = Dispatcher(app.store, app.push_allow, config, duties=default_duties(config))
    try:
        eventloop.run(push.run(handle_signals=True), event_loop)
    finally:
        app.close()
