"""ConveyorCollector: reads one snapshot from the store per scrape, at most once a second.

Several Prometheus servers (or a dashboard and a scraper) hitting /metrics together share
one snapshot instead of each running the store's queries.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

from conveyor.app import Conveyor
from conveyor.metrics.families import (
    DEFAULT_BUCKETS,
    DEFAULT_WINDOW_SECONDS,
    Snapshot,
    families,
    up,
)

log = logging.getLogger("conveyor.metrics")

CACHE_SECONDS = 1.0


class ConveyorCollector(Collector):
    def __init__(
        self,
        conveyor: Conveyor,
        *,
        cache_seconds: float = CACHE_SECONDS,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.conveyor = conveyor
        self.cache_seconds = cache_seconds
        self.window_seconds = window_seconds
        self.buckets = tuple(buckets)
        self._clock = clock
        self._lock = threading.Lock()
        self._read_at: float | None = None
        self._families: list[Metric] = []

    def describe(self) -> Iterable[Metric]:
        # Nothing up front: registering must not query the store.
        return []

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            now = self._clock()
            if self._read_at is None or now - self._read_at >= self.cache_seconds:
                self._families = self._read()
                self._read_at = now
            return list(self._families)

    def _read(self) -> list[Metric]:
        try:
            snapshot = Snapshot(
                queues=self.conveyor.queues(),
                totals=self.conveyor.totals(),
                times=self.conveyor.processing_times(self.window_seconds, self.buckets),
                workers=self.conveyor.workers(),
            )
        except Exception as exc:
            # A scrape must still answer, so the alert on conveyor_up can fire.
            log.error("metrics: the store did not answer (%s)", exc)
            return [up(False)]
        return families(snapshot)


def metrics_registry(
    conveyor: Conveyor, *, cache_seconds: float = CACHE_SECONDS
) -> CollectorRegistry:
    """A registry of its own holding only Conveyor's collector (never the global one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ConveyorCollector(conveyor, cache_seconds=cache_seconds))
    return registry
