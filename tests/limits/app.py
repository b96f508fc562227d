"""A test app whose tasks record, from inside the handler, when each execution ran.

Every task names its sink file as its first argument (so the workers, started once,
serve test after test), and each execution appends two JSON lines to it: `start` as the
handler's first act and `end` as its last, with the task's label, its group or
concurrency key, the wall clock (`time.time()`, shared by every process on this host)
and the pid. A line is one `write` on an O_APPEND file, so lines from several processes
never interleave. The handler's interval lies inside the attempt's `running` interval in
the store, so overlaps seen here are overlaps the store allowed.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

from conveyor import Conveyor


def record(sink: str, event: str, label: str, key: str | None, **extra: object) -> None:
    line = {
        "event": event,
        "label": label,
        "key": key,
        "t": time.time(),
        "pid": os.getpid(),
        **extra,
    }
    fd = os.open(sink, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(line) + "\n").encode())
    finally:
        os.close(fd)


async def hold(sink: str, label: str, key: str | None = None, seconds: float = 0.0) -> str:
    """Runs for `seconds`; `key` is the group or concurrency key it was enqueued with."""
    record(sink, "start", label, key)
    if seconds > 0:
        await asyncio.sleep(seconds)
    record(sink, "end", label, key)
    return label


async def flaky(sink: str, label: str, key: str | None, marker: str) -> str:
    """Fails its first attempt (the one that creates the file `marker`), succeeds after."""
    record(sink, "start", label, key)
    if not Path(marker).exists():
        Path(marker).touch()
        record(sink, "end", label, key, failed=True)
        raise RuntimeError(f"first attempt of {label} fails")
    record(sink, "end", label, key)
    return label


def build(url: str | None = None) -> Conveyor:
    app = Conveyor(url)
    app.task(hold)
    app.task(max_attempts=3, min_backoff=0.5, max_backoff=0.5)(flaky)
    return app


app = build()
