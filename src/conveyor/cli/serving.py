"""Serving the HTTP API, alone or beside a worker (`conveyor dev`).

uvicorn's own signal capture is switched off: one set of handlers stops the HTTP server
and starts the worker's graceful drain together, so a Ctrl-C never cuts a task short.
Imported only by the commands that serve, so `conveyor worker` starts without FastAPI.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import signal
import socket
import sys
import traceback
from collections.abc import Callable, Generator

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
    sockets: list[socket.socket] | None = None,
) -> None:
    """Serve the API until SIGTERM/SIGINT, with `worker` beside it, or else with the
    leader duties (reaper, pruner) of its own: foreign workers' leases must expire too.
    A `dispatcher` beside it delivers push queues' tasks and stops with the server.
    `sockets`: listen on these (bound by `serve_forked`) instead of binding host:port."""
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
        jobs = [server.serve(sockets=sockets)]
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


# -- several server processes on one port --------------------------------------------------


def listening_socket(host: str, port: int) -> socket.socket:
    """The port every server process accepts on, bound once by the parent.

    Made with `IPPROTO_TCP` spelled out: asyncio sets TCP_NODELAY only on sockets whose
    protocol says TCP, and without it every response waited 40 ms for a delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve_forked(processes: int, child: Callable[[], None]) -> int:
    """Run `child` (one whole server) in `processes` forked processes; return the exit code.

    One Python process serves the API on one core at a time, so `--workers` runs several,
    each an ordinary server with its own store connections (as several servers behind a
    load balancer would be; leader duties hold their lease in the store, so only one acts).
    The parent only supervises: SIGTERM or SIGINT is passed on to every process as SIGTERM
    (a second one makes them cancel at once, as it does one server), and when one process
    ends, the others are stopped, so a supervisor above sees the whole server go.
    Each child runs in a process group of its own, so a Ctrl-C at a terminal reaches the
    parent alone and is passed on once. The parent must hold no store connection or
    thread when it forks.
    """
    pids = [_fork(child) for _ in range(processes)]
    stopping = False

    def pass_on(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def one_ended() -> None:
        if not stopping:  # a second SIGTERM would make the others cancel their work
            pass_on(signal.SIGTERM, None)

    previous = {s: signal.signal(s, pass_on) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return _wait_for_all(pids, one_ended)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _fork(child: Callable[[], None]) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        os.setpgid(0, 0)
        child()
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _wait_for_all(pids: list[int], one_ended: Callable[[], None]) -> int:
    code = 0
    left = set(pids)
    while left:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:  # pragma: no cover - PEP 475 retries os.wait
            continue
        if pid not in left:
            continue
        left.discard(pid)
        code = code or os.waitstatus_to_exitcode(status)
        if left:
            one_ended()
    return code
