"""`conveyor worker` and `conveyor dev`: run tasks until told to stop."""

from __future__ import annotations

import logging
import os
import threading
import time

import click

from conveyor.app import Conveyor
from conveyor.cli import eventloop, logs
from conveyor.cli.commands.options import with_log_options, with_loop_option
from conveyor.cli.loading import load_app
from conveyor.cli.options import push_allow_option, url_option
from conveyor.errors import StoreUnavailable
from conveyor.settings import resolve_push_allow, resolve_url
from conveyor.worker.config import WorkerConfig
from conveyor.worker.runtime import Backoff, Worker

log = logging.getLogger("conveyor.worker")


def build_worker(app: Conveyor, queues: str | None, config: WorkerConfig) -> Worker:
    names = [q.strip() for q in queues.split(",") if q.strip()] if queues else []
    chosen = names or app.registry.queues() or ["default"]
    # A push queue's tasks belong to the dispatcher: a worker would fail them as unknown.
    pushed = {q.name for q in app.store.list_queues() if q.target is not None}
    for name in sorted(pushed & set(chosen)):
        log.warning("queue %s has a push target: left to the dispatcher, not this worker", name)
    return Worker(app.store, app.registry, [q for q in chosen if q not in pushed], config)


def _migrate_when_reachable(app: Conveyor) -> None:
    """A worker may start before its database does: wait for the store, saying why."""
    backoff = Backoff()
    while True:
        try:
            app.migrate()
            return
        except StoreUnavailable as exc:
            delay = backoff.next()
            log.error("store unavailable at start (%s); retrying in %.1fs", exc, delay)
            time.sleep(delay)


def _exit_past_stuck_threads() -> None:
    # A sync handler stuck past its timeout holds a thread that Python would join at exit;
    # its attempt is already failed or released, so leave without waiting for it.
    if any(t.name.startswith("conveyor-task") and t.is_alive() for t in threading.enumerate()):
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
    help="Seconds a claim holds a task before others may take it (heartbeats extend it).",
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
@click.option(
    "--prune-interval",
    default=60.0,
    show_default=True,
    help="Seconds between deletions of finished tasks past their queue's retention.",
)
@with_log_options
@with_loop_option
def worker(
    app_spec: str,
    url: str | None,
    queues: str | None,
    concurrency: int,
    lease_seconds: float,
    grace_seconds: float,
    reap_interval: float,
    prune_interval: float,
    log_level: str,
    log_format: str,
    event_loop: str,
) -> None:
    """Run a worker for the tasks of MODULE:APP."""
    logs.setup(log_level, log_format)
    config = WorkerConfig(
        concurrency=concurrency,
        lease_seconds=lease_seconds,
        grace_seconds=grace_seconds,
        reap_interval=reap_interval,
        prune_interval=prune_interval,
    )
    app = load_app(app_spec)
    if url:
        app.url = resolve_url(url)
    _migrate_when_reachable(app)
    try:
        eventloop.run(build_worker(app, queues, config).run(handle_signals=True), event_loop)
    finally:
        app.close()
    _exit_past_stuck_threads()


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
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--concurrency", default=10, show_default=True)
@click.option("--tokens", envvar="CONVEYOR_API_TOKENS", default=None, help="API tokens.")
@push_allow_option
@with_log_options
@with_loop_option
def dev(
    app_spec: str,
    url: str,
    host: str,
    port: int,
    concurrency: int,
    tokens: str | None,
    push_allow: str | None,
    log_level: str,
    log_format: str,
    event_loop: str,
) -> None:
    """Everything in one process on an embedded store: API, worker, push dispatcher and
    scheduler."""
    logs.setup(log_level, log_format)
    from conveyor.api.auth import Tokens
    from conveyor.cli.render import console
    from conveyor.cli.serving import check_exposure, serve
    from conveyor.push.dispatcher import Dispatcher

    parsed = Tokens.parse(tokens)
    check_exposure(host, parsed, allow_unauthenticated=False)
    app = load_app(app_spec)
    app.url = resolve_url(url)
    app.push_allow = resolve_push_allow(push_allow)
    app.migrate()
    config = WorkerConfig(concurrency=concurrency, reap_interval=1.0)
    console.print(
        f"[bold]conveyor dev[/bold]: app {app_spec}, store {app.url}, "
        f"API on http://{host}:{port} (docs at /docs). Ctrl-C to stop."
    )
    try:
        worker = build_worker(app, None, config)
        push = Dispatcher(app.store, app.push_allow)
        eventloop.run(serve(app, host, port, parsed, worker=worker, dispatcher=push), event_loop)
    finally:
        app.close()
    _exit_past_stuck_threads()
