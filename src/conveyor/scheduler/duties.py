"""Duties and the runner that holds one store lease per duty.

```
every `interval`:  acquire_duty(name, me, ttl=3*interval) ── no ──> skip this round
                                   │ yes
                                   ▼
                        run_once(store, now=None)
```

A holder that dies stops renewing; another node takes over once the row expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Protocol

from conveyor.errors import StoreUnavailable
from conveyor.store.aio import AsyncStore
from conveyor.store.base import Store

log = logging.getLogger("conveyor.scheduler")


class Duty(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def interval(self) -> float: ...

    def run_once(self, store: Store, now: float | None = None) -> int:
        """Do one round of the duty; return how many tasks it touched."""
        ...


@dataclass(frozen=True, slots=True)
class Reaper:
    """Expired leases go back to the queue, or fail when attempts are used up."""

    interval: float = 5.0
    batch: int = 1000
    name: str = "reaper"

    def run_once(self, store: Store, now: float | None = None) -> int:
        total = 0
        while (n := store.reap_expired(now=now, limit=self.batch)) > 0:
            total += n
            if n < self.batch:
                break
        return total


@dataclass(frozen=True, slots=True)
class Pruner:
    """Deletes finished tasks past retention, in small batches that never hold long locks,
    and forgets workers that stopped or died longer than `worker_retention` ago, so the
    registry stays as small as the fleet."""

    interval: float = 60.0
    completed_retention: float = 7 * 86400.0
    failed_retention: float = 30 * 86400.0
    worker_retention: float = 86400.0
    batch: int = 500
    name: str = "pruner"

    def run_once(self, store: Store, now: float | None = None) -> int:
        store.prune_workers(self.worker_retention, now)
        total = 0
        while (
            n := store.prune(self.completed_retention, self.failed_retention, now, self.batch)
        ) > 0:
            total += n
            if n < self.batch:
                break
        return total


async def run_duty(astore: AsyncStore, duty: Duty, holder: str, stop: asyncio.Event) -> None:
    """Run `duty` every interval while this node holds its lease, until `stop` is set."""
    store = astore.store
    while not stop.is_set():
        try:
            if await astore.run(store.acquire_duty, duty.name, holder, duty.interval * 3):
                touched = await astore.run(duty.run_once, store)
                if touched:
                    log.info("%s touched %d task(s)", duty.name, touched)
        except StoreUnavailable as exc:
            log.error("store unavailable for duty %s (%s)", duty.name, exc)
        except Exception:
            log.exception("duty %s failed; retrying in %.1fs", duty.name, duty.interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), duty.interval)
