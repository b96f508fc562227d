"""The sink app plus handlers that misbehave: they hang or leak past their timeout."""

from __future__ import annotations

import asyncio

from conveyor import Conveyor
from tests.apps import sink
from tests.apps.sink import record, wait_for_gate

LEAKED: list[bytearray] = []
"""What `leak_sync` keeps for good: memory a handler leaked stays leaked."""

MEGABYTE = 1 << 20


async def hog(key: str) -> None:
    """Grows by a megabyte every 10 ms until its timeout cancels it."""
    record("run", key)
    held = []
    while True:
        held.append(bytearray(MEGABYTE))
        await asyncio.sleep(0.01)


def hang_sync(key: str, gate: str) -> None:
    """A sync handler stuck past its timeout: its thread can only be abandoned."""
    record("run", key)
    wait_for_gate(gate)


def leak_sync(key: str, megabytes: int, gate: str) -> None:
    """Leaks `megabytes` for good, then hangs past its timeout."""
    record("run", key)
    LEAKED.extend(bytearray(MEGABYTE) for _ in range(megabytes))
    wait_for_gate(gate)


def flaky(key: str) -> None:
    """Always fails; retried once, after a fixed backoff."""
    record("run", key)
    raise RuntimeError(f"flaky {key}")


FLAKY_BACKOFF = 2.0


def build(url: str | None = None) -> Conveyor:
    """The sink app's tasks and the misbehaving ones, on one app."""
    built = sink.build(url)
    for misbehaving in (hog, hang_sync, leak_sync):
        built.task(timeout=0.3, max_attempts=1)(misbehaving)
    built.task(max_attempts=2, min_backoff=FLAKY_BACKOFF, max_backoff=FLAKY_BACKOFF)(flaky)
    return built


app = build()
