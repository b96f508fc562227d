"""Conveyor's app for the peer comparison: the same recording no-op as every peer's.

Workers run it as `conveyor worker bench.peers.conveyor_app:app --url ...`; the harness
points it at its own store with `app.use_store(...)`.
"""

from __future__ import annotations

from typing import Any

from bench.peers.common import record

from conveyor import Conveyor
from conveyor.tasks import TaskFunction

app = Conveyor()


@app.task(name="bench.peers.noop", queue="bench")
def noop(arg: dict[str, Any]) -> None:
    record(arg)


def producer(url: str, queue: str) -> tuple[Conveyor, TaskFunction[..., None]]:
    """An app of its own on `url` (for a producer thread), with the same task as `noop`
    on `queue`, enqueue-only: its handler never runs in the producer."""
    from conveyor.store import open_store

    own = Conveyor()
    own.use_store(open_store(url))

    @own.task(name="bench.peers.noop", queue=queue)
    def enqueued(arg: dict[str, Any]) -> None: ...

    return own, enqueued
