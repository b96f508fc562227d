"""`conveyor server`: the HTTP API; and the loop that runs it beside a worker for `dev`.

uvicorn's own signal capture is switched off: one set of handlers stops the HTTP server
and starts the worker's graceful drain together, so a Ctrl-C never cuts a task short.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import Generator

import click
import uvicorn

from conveyor.api.app import DEFAULT_BODY_LIMIT, create_api
from conveyor.api.auth import Tokens
from conveyor.app import Conveyor
from conveyor.cli import logs
from conveyor.cli.commands.options import with_log_options
from conveyor.cli.loading import load_app
from conveyor.cli.options import url_option
from conveyor.cli.render import console
from conveyor.errors import ConfigurationError
from conveyor.scheduler.duties import run_duty
from conveyor.settings import resolve_url
from conveyor.worker import signals
from conveyor.worker.config import WorkerConfig
from conveyor.worker.runtime import Worker, default_duties, new_worker_id


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def check_exposure(host: str, tokens: Tokens, allow_unauthenticated: bool) -> None:
    """Without tokens, only loopback: anyone who reaches the port could run anything."""
    if tokens.enabled or allow_unauthenticated or _is_loopback(host):
        return
    raise ConfigurationError(
        f"refusing to listen on {host} without API tokens: set CONVEYOR_API_TOKENS "
        "(e.g. 's3cret:admin') or pass --allow-unauthenticated"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def serve(
    app: Conveyor,
    host: str,
    port: int,
    tokens: Tokens,
    body_limit: int = DEFAULT_BODY_LIMIT,
    worker: Worker | None = None,
) -> None:
    """Serve the API until SIGTERM/SIGINT, with `worker` beside it, or else with the
    leader duties (reaper, pruner) of its own: foreign workers' leases must expire too."""
    api = create_api(app, tokens, body_limit)
    config = uvicorn.Config(api, host=host, port=port, log_config=None, access_log=False)
    server = _Server(config)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def stop() -> None:
        server.should_exit = True
        stopping.set()
        if hasattr(api.state, "announcer"):
            api.state.announcer.close()
        if worker is not None:
            worker.stop()

    def kill() -> None:
        server.force_exit = True
        stop()
        if worker is not None:
            worker.kill()

    signals.install(loop, stop, kill)
    try:
        jobs = [server.serve()]
        if worker is not None:
            jobs.append(worker.run())
        else:
            holder = f"server:{new_worker_id()}"
            jobs += [
                run_duty(app.astore, duty, holder, stopping)
                for duty in default_duties(WorkerConfig())
            ]
        await asyncio.gather(*jobs)
    finally:
        signals.uninstall(loop)


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
@with_log_options
def server(
    url: str | None,
    host: str,
    port: int,
    app_spec: str | None,
    tokens: str | None,
    allow_unauthenticated: bool,
    body_limit: int,
    log_level: str,
    log_format: str,
) -> None:
    """Serve the HTTP API."""
    logs.setup(log_level, log_format)
    parsed = Tokens.parse(tokens)
    check_exposure(host, parsed, allow_unauthenticated)
    app = load_app(app_spec) if app_spec else Conveyor(url)
    if url:
        app.url = resolve_url(url)
    app.migrate()
    console.print(f"conveyor server on http://{host}:{port} (docs at /docs), store {app.url}")
    try:
        asyncio.run(serve(app, host, port, parsed, body_limit))
    finally:
        app.close()
