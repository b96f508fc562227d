"""Prometheus metrics computed from the store at scrape time, in a registry of their own.

The API server and the workers are different processes, so no in-process counter would
add up across a fleet; every figure comes from the store, which all of them share. See
`families` for the metric names and what each one means.
"""

from __future__ import annotations

from conveyor.metrics.collector import ConveyorCollector, metrics_registry
from conveyor.metrics.families import DEFAULT_BUCKETS, DEFAULT_WINDOW_SECONDS

__all__ = ["DEFAULT_BUCKETS", "DEFAULT_WINDOW_SECONDS", "ConveyorCollector", "metrics_registry"]
