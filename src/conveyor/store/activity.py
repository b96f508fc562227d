"""Assembling `QueueActivity` from the two activity queries, the same for both backends."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from conveyor.errors import ConfigurationError
from conveyor.store.base import QueueActivity


def bucket_count(window_seconds: float, bucket_seconds: float) -> int:
    """How many buckets cover the window; the last one ends at `now`.

    >>> bucket_count(3600, 300)
    12
    """
    if bucket_seconds <= 0 or window_seconds <= 0:
        raise ConfigurationError(
            f"activity needs a positive window and bucket, not {window_seconds} and "
            f"{bucket_seconds} seconds"
        )
    return max(1, math.ceil(window_seconds / bucket_seconds))


def assemble(
    buckets: int,
    counts: Iterable[Mapping[str, Any]],
    percentiles: Iterable[Mapping[str, Any]],
) -> list[QueueActivity]:
    completed: dict[str, list[int]] = {}
    failed: dict[str, list[int]] = {}
    for row in counts:
        queue = row["queue"]
        # A task finished exactly at `now` falls one past the last bucket; it belongs in it.
        index = min(max(int(row["bucket"]), 0), buckets - 1)
        completed.setdefault(queue, [0] * buckets)[index] += int(row["completed"] or 0)
        failed.setdefault(queue, [0] * buckets)[index] += int(row["failed"] or 0)
    ranks = {row["queue"]: (row["p50"], row["p95"]) for row in percentiles}
    return [
        QueueActivity(
            queue,
            completed[queue],
            failed[queue],
            _seconds(ranks.get(queue, (None, None))[0]),
            _seconds(ranks.get(queue, (None, None))[1]),
        )
        for queue in sorted(completed)
    ]


def _seconds(value: Any) -> float | None:
    return None if value is None else max(0.0, float(value))
