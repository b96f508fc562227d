"""`conveyor worker` and `conveyor dev`: run tasks until told to stop."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import click

from conveyor.cli import logs
from conveyor.cli.loading import load_app
from conveyor.cli.options import url_option
from conveyor.cli.render import console
from conveyor.store import open_store
from conveyor.worker.config import WorkerConfig
from conveyor.worker.runtime import Worker

F = TypeVar("F", bound=Callable[..., Any])


def _with_log_options(fn: F) -> F:
    fn = click.option(
        "--log-format", default="human", show_default=True, type=click.Choice(["human", "json"])
    )(fn)
    return click.option(
        "--log-level",
        default="info",
        show_default=True,
        type=click.Choice(["debug", "info", "warning", "error"]),
    )(fn)


def run_worker(app_spec: str, url: str | None, queues: str | None, config: WorkerConfig) -> None:
    app = load_app(app_spec)
    store = open_store(url or app.url, migrate=True)
    app.use_store(store)
    names = [q.strip() for q in queues.split(",") if q.strip()] if queues else []
    worker = Worker(store, app.registry, names or app.registry.queues() or ["default"], config)
    try:
        asyncio.run(worker.run(handle_signals=True))
    finally:
        store.close()
    # A sync handler stuck past its timeout holds a thread that Python would join at exit;
    # its attempt is already failed or released, so leave without waiting for it.
    if any(t.name.startswith("conveyor-task") for t in threading.enumerate()):
        os._exit(0)


@click.command()
@click.argument("app_spec", metavar="MODULE:APP")
@url_option
@click.option("--queues", default=None, help="Comma-separated queues (default: the app's).")
@click.option("--concurrency", default=10, show_default=True, help="Tasks run at once.")
@click.option(
    "--lease",
    "lease_seconds",
    default=30.0,
    show_default=True,
    help="Seconds a claim holds a task before others may take it (extended by heartbeats).",
)
@click.option(
    "--grace",
    "grace_seconds",
    default=30.0,
    show_default=True,
    help="Seconds to let tasks finish after SIGTERM before releasing them.",
)
@click.option(
    "--reap-interval",
    default=5.0,
    show_default=True,
    help="Seconds between sweeps for expired leases.",
)
@_with_log_options
def worker(
    app_spec: str,
    url: str | None,
    queues: str | None,
    concurrency: int,
    lease_seconds: float,
    grace_seconds: float,
    reap_interval: float,
    log_level: str,
    log_format: str,
) -> None:
    """Run a worker for the tasks of MODULE:APP."""
    logs.setup(log_level, log_format)
    config = WorkerConfig(
        concurrency=concurrency,
        lease_seconds=lease_seconds,
        grace_seconds=grace_seconds,
        reap_interval=reap_interval,
    )
    run_worker(app_spec, url, queues, config)


@click.command()
@click.option(
    "--app",
    "app_spec",
    default="examples.app:app",
    show_default=True,
    help="The app whose tasks to run.",
)
@click.option(
    "--url",
    envvar="CONVEYOR_URL",
    default="sqlite:///conveyor.db",
    show_default=True,
    help="Store URL (env CONVEYOR_URL).",
)
@click.option("--concurrency", default=10, show_default=True)
@_with_log_options
def dev(app_spec: str, url: str, concurrency: int, log_level: str, log_format: str) -> None:
    """Everything in one process on an embedded store: worker and scheduler."""
    logs.setup(log_level, log_format)
    console.print(f"[bold]conveyor dev[/bold]: app {app_spec}, store {url} (Ctrl-C to stop)")
    run_worker(app_spec, url, None, WorkerConfig(concurrency=concurrency, reap_interval=1.0))
