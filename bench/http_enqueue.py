"""HTTP enqueue rate of `conveyor server`, single tasks and batches, on both backends.

    .venv/bin/python bench/http_enqueue.py [--seconds 5] [--connections 32] [--clients 2]
                                           [--workers 1]

A real server process on a loopback port. The load generator is a minimal HTTP/1.1
client on asyncio streams (keep-alive, one request in flight per connection), run in
`--clients` processes: httpx spends about 0.5 ms of client CPU per request, which on a
2-core machine caps the client below the server it measures, while this one spends a
tenth of that. `bench/peers/run.py --only http` uses the same functions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.procfs import tree_cpu_seconds
from bench.throughput import (
    DEFAULT_POSTGRES_URL,
    ROOT,
    conveyor_command,
    percentile,
    postgres_backend,
    sqlite_backend,
)

BATCH = 100
SINGLE_PATH = "/api/v1/tasks"
BATCH_PATH = "/api/v1/tasks/batch"
WARMUP_SECONDS = 1.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Server:
    base: str
    pid: int


@contextmanager
def server(url: str, workers: int = 1) -> Iterator[Server]:
    """A `conveyor server` subprocess (of `workers` processes) on a free loopback port;
    stopped on the way out."""
    port = free_port()
    process = subprocess.Popen(
        [
            *conveyor_command(),
            "server",
            "--url",
            url,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, process)
        yield Server(base, process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_healthy(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"conveyor server exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError("conveyor server did not start within 30 s")


STUB_SERVER = """
import asyncio, sys

REPLY = b"HTTP/1.1 202 Accepted\\r\\nContent-Length: 2\\r\\n\\r\\n{}"

async def serve(reader, writer):
    while True:
        try:
            head = await reader.readuntil(b"\\r\\n\\r\\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        length = 0
        for line in head.split(b"\\r\\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        writer.write(REPLY)

async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()

asyncio.run(main())
"""


@contextmanager
def stub_server() -> Iterator[Server]:
    """A server that reads each request and answers 202 at once, doing no work: the
    rate the client reaches against it is the client's ceiling on this machine."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", STUB_SERVER, str(port)])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            time.sleep(0.05)
        yield Server(f"http://127.0.0.1:{port}", process.pid)
    finally:
        process.kill()
        process.wait()


# -- the load generator --------------------------------------------------------------------


@dataclass(slots=True)
class Tally:
    """What one client process saw; latencies in ms, one per accepted request."""

    requests: int = 0
    errors: int = 0
    accepted_all: int = 0
    """2xx responses also outside the window: what the store should hold afterwards."""
    latencies_ms: list[float] = field(default_factory=list)
    first_error: str = ""


@dataclass(frozen=True, slots=True)
class Load:
    """One measurement: `batch` tasks per request, over `seconds` of wall time."""

    batch: int
    seconds: float
    requests: int
    errors: int
    latencies_ms: list[float]
    server_cpu_seconds: float
    accepted_all: int
    """Requests accepted, warm-up included: the store should hold this many times `batch`."""
    first_error: str = ""

    @property
    def tasks(self) -> int:
        return self.requests * self.batch

    @property
    def tasks_per_s(self) -> float:
        return self.tasks / self.seconds

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds

    def latency_ms(self, pct: float) -> float | None:
        return percentile(self.latencies_ms, pct) if self.latencies_ms else None

    @property
    def server_cpu_share(self) -> float:
        """The server's CPU time over wall time: 1.0 is one core busy all along."""
        return self.server_cpu_seconds / self.seconds


def body(queue: str, batch: int, client: int, i: int) -> bytes:
    """The JSON of request `i`: one task (`batch` 1) or a batch of them, all distinct."""
    if batch == 1:
        one = {"type": "bench.noop", "queue": queue, "payload": {"data": {"n": i, "c": client}}}
        return json.dumps(one).encode()
    tasks = [
        {"type": "bench.noop", "queue": queue, "payload": {"data": {"n": i, "j": j, "c": client}}}
        for j in range(batch)
    ]
    return json.dumps({"tasks": tasks}).encode()


async def _response_status(reader: asyncio.StreamReader) -> int:
    """Read one response (the server sends Content-Length) and return its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def _connection(
    port: int,
    path: str,
    make_body: Callable[[int], bytes],
    until: float,
    tally: Tally,
    record: Callable[[], bool],
) -> None:
    """One keep-alive connection sending requests back to back until `until` (wall clock)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        i = 0
        while time.time() < until:
            payload = make_body(i)
            i += 1
            head = (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
            ).encode()
            start = time.perf_counter()
            writer.write(head + payload)
            status = await _response_status(reader)
            tally.accepted_all += 200 <= status < 300
            if not record():
                continue
            if 200 <= status < 300:
                tally.requests += 1
                tally.latencies_ms.append((time.perf_counter() - start) * 1000)
            else:
                tally.errors += 1
                tally.first_error = tally.first_error or f"HTTP {status} from {path}"
    finally:
        writer.close()


async def _client(
    port: int, queue: str, batch: int, connections: int, index: int, start: float, end: float
) -> Tally:
    """`connections` connections of one process; only requests sent in [start, end) count."""
    tally = Tally()
    path = SINGLE_PATH if batch == 1 else BATCH_PATH

    def make_body_for(conn: int) -> Callable[[int], bytes]:
        client = index * 1000 + conn
        return lambda i: body(queue, batch, client, i)

    def measuring() -> bool:
        # A request counts when it completed inside the window, so a warm-up request
        # (a cold server, first connections) never counts and the rate is not inflated.
        return start <= time.time() < end

    await asyncio.gather(
        *(
            _connection(port, path, make_body_for(c), end, tally, measuring)
            for c in range(connections)
        )
    )
    return tally


def _client_process(args: tuple[int, str, int, int, int, float, float]) -> Tally:
    with contextlib.suppress(ImportError):
        import uvloop  # the client's own loop overhead is part of what it takes from the server

        return uvloop.run(_client(*args))
    return asyncio.run(_client(*args))


def load(
    target: Server, queue: str, seconds: float, connections: int, batch: int, clients: int = 2
) -> Load:
    """Tasks accepted per second by `target`, from `clients` processes sharing `connections`."""
    per_client = [connections // clients + (i < connections % clients) for i in range(clients)]
    port = int(target.base.rsplit(":", 1)[1])
    start = time.time() + WARMUP_SECONDS
    end = start + seconds
    jobs = [(port, queue, batch, n, i, start, end) for i, n in enumerate(per_client) if n]
    with multiprocessing.get_context("fork").Pool(len(jobs)) as pool:
        pending = pool.map_async(_client_process, jobs)
        time.sleep(max(0.0, start - time.time()))
        cpu_before = tree_cpu_seconds(target.pid)
        time.sleep(max(0.0, end - time.time()))
        cpu_used = tree_cpu_seconds(target.pid) - cpu_before
        tallies = pending.get(timeout=seconds + 120)
    return Load(
        batch=batch,
        seconds=seconds,
        requests=sum(t.requests for t in tallies),
        errors=sum(t.errors for t in tallies),
        latencies_ms=[ms for t in tallies for ms in t.latencies_ms],
        server_cpu_seconds=cpu_used,
        accepted_all=sum(t.accepted_all for t in tallies),
        first_error=next((t.first_error for t in tallies if t.first_error), ""),
    )


# -- the standalone table ------------------------------------------------------------------


def run(
    backend: str, seconds: float, connections: int, clients: int, workers: int = 1
) -> tuple[Load, Load]:
    admin = os.environ.get("CONVEYOR_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    stores = sqlite_backend() if backend == "sqlite" else postgres_backend(admin)
    with stores as (url, _probe), server(url, workers) as target:
        single = load(target, "http", seconds, connections, 1, clients)
        batched = load(target, "http-batch", seconds, connections, BATCH, clients)
    return single, batched


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--workers", type=int, default=1, help="conveyor server --workers")
    args = parser.parse_args(argv)
    table = Table(
        title=f"HTTP enqueue, {args.connections} keep-alive connections, "
        f"{args.clients} client processes, {args.workers} server process(es)"
    )
    for column in ("backend", "single POST tasks/s", f"batch of {BATCH} tasks/s"):
        table.add_column(column, justify="right")
    for backend in args.backends.split(","):
        single, batched = run(backend, args.seconds, args.connections, args.clients, args.workers)
        table.add_row(backend, f"{single.tasks_per_s:,.0f}", f"{batched.tasks_per_s:,.0f}")
    Console().print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
