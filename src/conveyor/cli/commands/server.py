"""`conveyor server`: the HTTP API over a store."""

from __future__ import annotations

import click

from conveyor.api.defaults import DEFAULT_BODY_LIMIT
from conveyor.app import Conveyor
from conveyor.cli import eventloop, logs
from conveyor.cli.commands.options import with_log_options, with_loop_option
from conveyor.cli.loading import load_app
from conveyor.cli.options import push_allow_option, url_option
from conveyor.cli.render import console
from conveyor.settings import resolve_push_allow, resolve_url


@click.command()
@url_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--app", "app_spec", default=None, help="MODULE:APP whose task defaults apply.")
@click.option(
    "--tokens",
    envvar="CONVEYOR_API_TOKENS",
    default=None,
    help="API tokens as TOKEN:SCOPE[+SCOPE],... (env CONVEYOR_API_TOKENS).",
)
@click.option(
    "--allow-unauthenticated",
    is_flag=True,
    help="Listen beyond loopback without tokens (not recommended).",
)
@click.option(
    "--body-limit",
    default=DEFAULT_BODY_LIMIT,
    show_default=True,
    help="Largest request body in bytes.",
)
@push_allow_option
@click.option(
    "--dispatcher/--no-dispatcher",
    "with_dispatcher",
    default=True,
    show_default=True,
    help="Deliver push queues' tasks from this process too (see `conveyor dispatcher`).",
)
@click.option(
    "--metrics-public",
    is_flag=True,
    envvar="CONVEYOR_METRICS_PUBLIC",
    help="Serve /metrics without a token even when tokens are configured "
    "(env CONVEYOR_METRICS_PUBLIC).",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes sharing the port: one Python process uses one core.",
)
@with_log_options
@with_loop_option
def server(
    url: str | None,
    host: str,
    port: int,
    app_spec: str | None,
    tokens: str | None,
    allow_unauthenticated: bool,
    body_limit: int,
    push_allow: str | None,
    with_dispatcher: bool,
    metrics_public: bool,
    workers: int,
    log_level: str,
    log_format: str,
    event_loop: str,
) -> None:
    """Serve the HTTP API."""
    logs.setup(log_level, log_format)
    from conveyor.api.auth import Tokens
    from conveyor.cli.serving import check_exposure, listening_socket, serve, serve_forked
    from conveyor.push.dispatcher import Dispatcher

    parsed = Tokens.parse(tokens)
    check_exposure(host, parsed, allow_unauthenticated)
    app = load_app(app_spec) if app_spec else Conveyor(url)
    if url:
        app.url = resolve_url(url)
    app.push_allow = resolve_push_allow(push_allow)
    app.migrate()
    sockets = None
    if workers > 1:
        sockets = [listening_socket(host, port)]
        app.close()  # each process opens its own store: no pool may cross a fork
    shown = f" in {workers} processes" if workers > 1 else ""
    console.print(
        f"conveyor server on http://{host}:{port}{shown} (docs at /docs), store {app.url}"
    )

    def run() -> None:
        try:
            push = Dispatcher(app.store, app.push_allow) if with_dispatcher else None
            eventloop.run(
                serve(
                    app,
                    host,
                    port,
                    parsed,
                    body_limit,
                    dispatcher=push,
                    metrics_public=metrics_public,
                    sockets=sockets,
                ),
                event_loop,
            )
        finally:
            app.close()

    if sockets is None:
        run()
        return
    code = serve_forked(workers, run)
    if code:
        raise SystemExit(code)
