"""The cron duty: enqueues each due tick under `tick_key`, so two nodes never fire twice.

```
every 0.5 s, holding the "cron" lease:
    now = store.now()
    for each schedule:  ticks = due_ticks(rule, last evaluated, now, misfire)
    store.enqueue([schedule.tick(t) for t in ticks])   ← one transaction; dedup on the key
```

Where "last fired" lives: in the tasks table. A tick's task carries a deterministic
idempotency key, and the store refuses a second task with the same (queue, key), so the
duty may offer a tick as often as it likes and it is stored once. The duty only remembers,
in memory, the time up to which it has already offered ticks, to keep each round short.
A node that has just taken the lease (or just started) remembers nothing: it offers the
ticks of the last `grace` seconds, and under `Misfire.ONCE` the newest older tick too,
and the store drops whichever of them another node already enqueued. `grace` (2 s) is
longer than the lease's expiry (3 intervals), so a handover loses no tick.

Limit: dedup lasts as long as the tick's task row. A schedule whose period is longer than
the pruner's retention can run its newest tick again when a node starts after the prune.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from conveyor.core.cron import Schedule, due_ticks
from conveyor.errors import ConfigurationError
from conveyor.schedules import schedule_of
from conveyor.store.base import Store

log = logging.getLogger("conveyor.scheduler")

__all__ = ["Cron"]


@dataclass(frozen=True, slots=True)
class Cron:
    """Fires the ticks due by the store's clock: of `schedules` (the app's, from code) and
    of the schedules stored in the store, read each round. A stored schedule with the name
    of one in code is left to the code's."""

    schedules: tuple[Schedule, ...]
    interval: float = 0.5
    grace: float = 2.0
    name: str = "cron"
    _offered: dict[str, datetime] = field(default_factory=dict, compare=False, repr=False)

    def run_once(self, store: Store, now: float | None = None) -> int:
        at = store.now() if now is None else datetime.fromtimestamp(now, tz=UTC)
        schedules = [*self.schedules, *self._stored(store)]
        news = []
        for schedule in schedules:
            last = self._offered.get(schedule.name)
            ticks = due_ticks(schedule.rule, last, at, schedule.misfire, self.grace)
            news += [schedule.tick(t) for t in ticks]
        created = sum(e.created for e in store.enqueue(news)) if news else 0
        # Recorded only after the enqueue committed: a failed round is offered again.
        for schedule in schedules:
            self._offered[schedule.name] = at
        return created

    def _stored(self, store: Store) -> list[Schedule]:
        ours = {s.name for s in self.schedules}
        found = []
        for spec in store.list_schedules():
            if spec.name in ours:
                continue
            try:
                found.append(schedule_of(spec))
            except ConfigurationError as exc:  # stored by an older version, say
                log.warning("skipping stored schedule %r: %s", spec.name, exc)
        return found
