"""Serving the HTTP API, alone or beside a worker (`conveyor dev`).

uvicorn's own signal capture is switched off: one set of handlers stops the HTTP server
and starts the worker's graceful drain together, so a Ctrl-C never cuts a task short.
Imported only by the commands that serve, so `conveyor worker` starts without FastAPI.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import Generator

import uvicorn

from conveyor.api.app import create_api
from conveyor.api.auth import Tokens
from conveyor.api.defaults import DEFAULT_BODY_LIMIT
from conveyor.app import Conveyor
from conveyor.errors import ConfigurationError
from conveyor.push.dispatcher import Dispatcher
from conveyor.scheduler.duties import run_duty
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
    dispatcher: Dispatcher | None = None,
    *,
    metrics_public: bool = False,
) -> None:
    """Serve the API until SIGTERM/SIGINT, with `worker` beside it, or else with the
    leader duties (reaper, pruner) of its own: foreign workers' leases must expire too.
    A `dispatcher` beside it delivers push queues' tasks and stops with the server."""
    api = create_api(app, tokens, body_limit, metrics_public=metrics_public)
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
        if dispatcher is not None:
            dispatcher.stop()

    def kill() -> None:
        server.force_exit = True
        stop()
        if worker is not None:
            worker.kill()
        if dispatcher is not None:
            dispatcher.kill()

    signals.install(loop, stop, kill)
    try:
        jobs = [server.serve()]
        if dispatcher is not None:
            jobs.append(dispatcher.run())
        if worker is not None:
            jobs.append(worker.run())
        else:
            holder = f"server:{new_worker_id()}"
            jobs += [
                run_duty(app.astore, duty, holder, stopping)
                for duty in default_duties(WorkerConfig(), app.registry.schedules())
            ]
        await asyncio.gather(*jobs)
    finally:
        signals.uninstall(loop)
