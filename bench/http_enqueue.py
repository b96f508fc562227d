"""HTTP enqueue rate of `conveyor server`, single tasks and batches, on both backends.

    .venv/bin/python bench/http_enqueue.py [--seconds 5] [--connections 16] [--workers 2]

A real server process on a loopback port; the load generator is an asyncio client with
hand-written HTTP/1.1 keep-alive connections in this process, one request in flight per
connection. On a 2-core machine the client still takes some CPU from the server, so
these figures are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.throughput import (
    DEFAULT_POSTGRES_URL,
    ROOT,
    conveyor_command,
    postgres_backend,
    sqlite_backend,
)

BATCH = 100


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(url: str, workers: int = 1) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            *conveyor_command(),
            "server",
            "--url",
            url,
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--workers",
            str(workers),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError("conveyor server did not start within 30 s")
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


async def load(base: str, seconds: float, connections: int, batch: int) -> float:
    """Tasks accepted per second over `seconds`, by `connections` clients in a loop.

    Each client is one keep-alive HTTP/1.1 connection written by hand: httpx spent about
    2 ms of CPU per request here, so on two cores it measured itself, not the server.
    """
    host, port = base.removeprefix("http://").split(":")
    accepted = 0
    deadline = time.monotonic() + seconds

    async def one_client(n: int) -> None:
        nonlocal accepted
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            i = 0
            while time.monotonic() < deadline:
                i += 1
                writer.write(_request(n, i, batch))
                await _accepted(reader)
                accepted += batch
        finally:
            writer.close()

    start = time.monotonic()
    await asyncio.gather(*(one_client(n) for n in range(connections)))
    return accepted / (time.monotonic() - start)


def _request(n: int, i: int, batch: int) -> bytes:
    if batch == 1:
        path = "/api/v1/tasks"
        body = {"type": "noop", "queue": "http", "payload": {"n": n, "i": i}}
    else:
        path = "/api/v1/tasks/batch"
        tasks = [
            {"type": "noop", "queue": "http", "payload": {"n": n, "i": i, "j": j}}
            for j in range(batch)
        ]
        body = {"tasks": tasks}
    data = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


async def _accepted(reader: asyncio.StreamReader) -> None:
    """Read one response; anything but 202 stops the run."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = head.split(b" ", 2)[1]
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length)
    if status != b"202":
        raise RuntimeError(f"server answered {status.decode()}: {body[:200]!r}")


def run(backend: str, seconds: float, connections: int, workers: int) -> tuple[float, float]:
    admin = os.environ.get("CONVEYOR_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    stores = sqlite_backend() if backend == "sqlite" else postgres_backend(admin)
    with stores as (url, _probe), server(url, workers) as base:
        single = asyncio.run(load(base, seconds, connections, 1))
        batched = asyncio.run(load(base, seconds, connections, BATCH))
    return single, batched


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--workers", type=int, default=1, help="conveyor server --workers")
    args = parser.parse_args(argv)
    title = (
        f"HTTP enqueue, {args.connections} keep-alive connections, "
        f"{args.workers} server process(es)"
    )
    table = Table(title=title)
    for column in ("backend", "single POST tasks/s", f"batch of {BATCH} tasks/s"):
        table.add_column(column, justify="right")
    for backend in args.backends.split(","):
        single, batched = run(backend, args.seconds, args.connections, args.workers)
        table.add_row(backend, f"{single:,.0f}", f"{batched:,.0f}")
    Console().print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
