"""The benchmark's app: one no-op task. Workers run it as `conveyor worker bench.app:app`.

The store URL comes from the worker's `--url`; `bench/throughput.py` points this app at
its own store with `app.use_store(...)`.
"""

from __future__ import annotations

from typing import Any

from conveyor import Conveyor

app = Conveyor()


@app.task(name="bench.noop", queue="bench")
def noop(data: dict[str, Any]) -> None:
    """Do nothing: what is measured is the queue, not the handler."""
