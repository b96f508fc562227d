"""Worker memory over a long run, for `run.py --only rss` (Conveyor only).

One real `conveyor worker` process runs no-op tasks (bench/peers/conveyor_app.py: each
appends one line to a file, so the processed count is the file's size, read without
touching the store). A feeder thread here keeps a bounded backlog queued, so the store
never holds a million queued rows at once and the run takes about as long as the worker
needs. Each time the processed count crosses a mark, the worker's VmRSS is read from
/proc/PID/status. A leak shows as RSS still growing between the marks; the target is
the last mark within ±10% of the first.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.peers import conveyor_system
from bench.peers.common import Recorder, Settings, data, workers
from bench.procfs import rss_kib, status_kib
from rich.table import Table

QUEUE = "rss"
BACKLOG = 20_000
"""Tasks the feeder keeps queued ahead of the worker."""
FEED_BATCH = 1_000
TOLERANCE = 0.10
POLL_SECONDS = 0.02
SAMPLES = 20
"""RSS readings along the way (besides the marks), for the JSON."""


def sizes(quick: bool, tasks: int | None) -> tuple[int, int]:
    """The two marks: a tenth of the run, and all of it (100,000 and 1,000,000 in full)."""
    total = tasks or (20_000 if quick else 1_000_000)
    return total // 10, total


class Feeder(threading.Thread):
    """Enqueues `total` tasks in batches, never more than BACKLOG ahead of the worker."""

    def __init__(self, url: str, total: int, processed: Callable[[], int]) -> None:
        super().__init__(name="rss-feeder", daemon=True)
        self.url, self.total, self.processed = url, total, processed
        self.enqueued = 0
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        from bench.peers.conveyor_app import producer

        app, noop = producer(self.url, QUEUE)

        try:
            while self.enqueued < self.total and not self.stop.is_set():
                if self.enqueued - self.processed() >= BACKLOG:
                    time.sleep(0.05)
                    continue
                k = min(FEED_BATCH, self.total - self.enqueued)
                app.enqueue_many([noop.s(data(self.enqueued + i)) for i in range(k)])
                self.enqueued += k
        except BaseException as exc:
            self.error = exc
        finally:
            app.close()


def _reading(pid: int, processed: int, started: float) -> dict[str, Any]:
    return {
        "processed": processed,
        "seconds": round(time.monotonic() - started, 1),
        "rss_kib": rss_kib(pid),
        "hwm_kib": status_kib(pid, "VmHWM"),
    }


def watch(url: str, marks: tuple[int, int], s: Settings, folder: Path) -> dict[str, Any]:
    """Run one worker through `marks[-1]` tasks; RSS at each mark and along the way."""
    rec = Recorder(folder, QUEUE)
    feeder = Feeder(url, marks[-1], rec.count)
    command = conveyor_system.worker_command(url, QUEUE, s.concurrency)
    readings: list[dict[str, Any]] = []
    at_marks: dict[str, dict[str, Any]] = {}
    every = max(1, marks[-1] // SAMPLES)
    feeder.start()
    try:
        with workers(command, 1, rec.path) as running:
            worker = running[0]
            started = time.monotonic()
            pending = sorted({every * k for k in range(1, SAMPLES + 1)} | set(marks))
            while pending:
                done = rec.count()
                while pending and done >= pending[0]:
                    reading = _reading(worker.process.pid, done, started)
                    readings.append(reading)
                    if pending[0] in marks:
                        at_marks[str(pending[0])] = reading
                    pending.pop(0)
                _check(worker, feeder, started, marks[-1], done)
                time.sleep(POLL_SECONDS)
    finally:
        feeder.stop.set()
        feeder.join()
    return summary(marks, at_marks, readings)


def _check(worker: Any, feeder: Feeder, started: float, total: int, done: int) -> None:
    if worker.process.poll() is not None:
        raise RuntimeError(f"worker exited with {worker.process.returncode}:\n{worker.tail()}")
    if feeder.error is not None:
        raise RuntimeError(f"feeder failed: {feeder.error!r}")
    # Far beyond any rate seen: a stuck worker fails the row instead of hanging the run.
    if time.monotonic() - started > max(600.0, total / 50):
        raise TimeoutError(f"{done:,} of {total:,} tasks after {time.monotonic() - started:.0f}s")


def summary(
    marks: tuple[int, int], at_marks: dict[str, dict[str, Any]], readings: list[dict[str, Any]]
) -> dict[str, Any]:
    first, last = at_marks[str(marks[0])], at_marks[str(marks[1])]
    change = last["rss_kib"] / first["rss_kib"] - 1
    seconds = last["seconds"] - first["seconds"]
    return {
        "marks": {k: v["rss_kib"] for k, v in at_marks.items()},
        "change": round(change, 4),
        "within_target": abs(change) <= TOLERANCE,
        "processed_per_s": round((marks[1] - marks[0]) / seconds, 1) if seconds > 0 else None,
        "seconds": last["seconds"],
        "peak_kib": last["hwm_kib"],
        "readings": readings,
    }


def measure(
    quick: bool, tasks: int | None, s: Settings, log: Callable[[str], None]
) -> dict[str, Any]:
    """PostgreSQL first, then SQLite (normal): each a fresh store and one worker."""
    marks = sizes(quick, tasks)
    out: dict[str, Any] = {"marks": list(marks)}
    for name in ("conveyor-postgres", "conveyor-sqlite-normal"):
        store, synchronous = conveyor_system.SYSTEMS[name]
        log(f"[bold]rss[/bold] {name}: one worker through {marks[1]:,} tasks")
        try:
            with (
                conveyor_system.backend(store, synchronous, s) as (url, _probe),
                tempfile.TemporaryDirectory(prefix="bench-rss-") as folder,
            ):
                _migrate(url)
                out[name] = watch(url, marks, s, Path(folder))
            r = out[name]
            log(
                f"  = {name}: {_mib(r['marks'][str(marks[0])])} MiB after {marks[0]:,}, "
                f"{_mib(r['marks'][str(marks[1])])} MiB after {marks[1]:,} ({r['change']:+.1%})"
            )
        except Exception as exc:
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def _migrate(url: str) -> None:
    # Before the worker and the feeder start, so that neither races the other to it.
    from conveyor.store import open_store

    open_store(url, migrate=True).close()


def _mib(kib: int) -> str:
    return f"{kib / 1024:,.1f}"


def _row(r: dict[str, Any], marks: tuple[int, int]) -> list[str]:
    return [
        _mib(r["marks"][str(marks[0])]),
        _mib(r["marks"][str(marks[1])]),
        f"{r['change']:+.1%}",
        "yes" if r["within_target"] else "[red]no[/red]",
        _mib(r["peak_kib"]),
        f"{r['processed_per_s']:,.0f}" if r["processed_per_s"] else "—",
        f"{r['seconds']:,.0f}",
    ]


def table(result: dict[str, Any]) -> Table:
    marks = (int(result["marks"][0]), int(result["marks"][1]))
    out = Table(
        title="Worker RSS (MiB): one `conveyor worker`, no-op tasks, concurrency 10",
        caption=(
            f"Target: RSS after {marks[1]:,} within ±{TOLERANCE:.0%} of RSS after {marks[0]:,}."
        ),
    )
    out.add_column("system")
    for col in (
        f"after {marks[0]:,}",
        f"after {marks[1]:,}",
        "change",
        "within ±10%",
        "peak (VmHWM)",
        "tasks/s between marks",
        "seconds",
    ):
        out.add_column(col, justify="right")
    for name, r in result.items():
        if not isinstance(r, dict):
            continue
        if "error" in r:
            out.add_row(name, "[red]failed[/red]", *(["—"] * 6))
        else:
            out.add_row(name, *_row(r, marks))
    return out


def errors(result: dict[str, Any]) -> list[str]:
    return [
        f"rss {k}: {v['error']}" for k, v in result.items() if isinstance(v, dict) and "error" in v
    ]
