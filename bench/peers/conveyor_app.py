"""Conveyor's app for the peer comparison: the same recording no-op as every peer's.

Workers run it as `conveyor worker bench.peers.conveyor_app:app --url ...`; the harness
points it at its own store with `app.use_store(...)`.
"""

from __future__ import annotations

from typing import Any

from bench.peers.common import record

from conveyor import Conveyor

app = Conveyor()


@app.task(name="bench.peers.noop", queue="bench")
def noop(arg: dict[str, Any]) -> None:
    record(arg)
