"""Push delivery throughput with no queue limits: N tasks POSTed to a loopback receiver.

    .venv/bin/python bench/push.py                        # both backends, 5,000 tasks
    .venv/bin/python bench/push.py --tasks 1000 --backends sqlite --concurrency 10

For each backend, on a fresh store: N tasks are enqueued in bulk to a queue whose target
is a receiver on 127.0.0.1 (uvicorn in a process of its own, answering 204 at once), then
one real `conveyor dispatcher` process drains them. The number is tasks per second from
the first claim to the last completion, by the store's clock: claim, sign, POST over a
keep-alive connection, and acknowledge, all included.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.throughput import (  # noqa: E402
    DEFAULT_POSTGRES_URL,
    Probe,
    conveyor_command,
    postgres_backend,
    sqlite_backend,
)

from conveyor import Conveyor  # noqa: E402

QUEUE = "bench-push"
ALLOW = "http://127.0.0.1:*"
BATCH = 1_000
POLL_SECONDS = 0.05
err = Console(stderr=True, highlight=False)


async def receive(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The receiver: read the body, answer 204."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


@contextmanager
def receiver(port: int) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--serve", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.post(url, timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the receiver did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)


@dataclass
class Result:
    backend: str
    tasks: int
    concurrency: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.tasks / self.seconds if self.seconds else 0.0


def run_backend(
    backend: str, url: str, probe: Probe, target: str, tasks: int, concurrency: int
) -> Result:
    app = Conveyor(url, push_allow=ALLOW)
    app.migrate()
    app.queue(QUEUE, target=target + "/{type}", secret="bench-secret")
    for start in range(0, tasks, BATCH):
        count = min(BATCH, tasks - start)
        app.enqueue_many(
            {"name": "ping", "queue": QUEUE, "kwargs": {"i": start + i}} for i in range(count)
        )
    app.close()
    env = {**os.environ, "CONVEYOR_PUSH_ALLOW": ALLOW}
    command = [*conveyor_command(), "dispatcher", "--url", url, "--concurrency", str(concurrency)]
    process = subprocess.Popen(
        [*command, "--log-level", "warning"], cwd=ROOT, env=env, stderr=subprocess.PIPE
    )
    try:
        while probe.remaining(QUEUE):
            if process.poll() is not None:
                raise SystemExit(f"the dispatcher exited: {process.communicate()[1]!r}")
            time.sleep(POLL_SECONDS)
        return Result(backend, tasks, concurrency, probe.span(QUEUE))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def backend_store(name: str) -> AbstractContextManager[Any]:
    if name == "sqlite":
        return sqlite_backend()
    admin = os.environ.get("CONVEYOR_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    return postgres_backend(admin)


def table(results: Sequence[Result]) -> Table:
    out = Table(title="push delivery throughput (no limits, loopback receiver)")
    for column in ("backend", "tasks", "dispatcher concurrency", "seconds", "pushes/s"):
        out.add_column(column, justify="right" if column != "backend" else "left")
    for r in results:
        out.add_row(
            r.backend, f"{r.tasks:,}", str(r.concurrency), f"{r.seconds:.2f}", f"{r.rate:,.0f}"
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        import uvicorn

        uvicorn.run(receive, host="127.0.0.1", port=args.serve, log_level="warning")
        return 0
    results = []
    with receiver(args.port) as target:
        for name in args.backends.split(","):
            err.print(f"{name}: {args.tasks:,} pushes ...")
            with backend_store(name) as (url, make_probe):
                probe = make_probe()
                try:
                    results.append(
                        run_backend(name, url, probe, target, args.tasks, args.concurrency)
                    )
                finally:
                    probe.close()
    Console().print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
