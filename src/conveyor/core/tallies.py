"""Totals and processing times per queue, as the store counts them for /metrics.

Totals only grow: tasks still stored are counted where they stand, and tasks that left
(pruned, purged, or replayed out of the dead letters) are kept in the store's tallies.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class QueueTotals:
    queue: str
    enqueued: int
    completed: int
    failed: int
    """Tasks that failed for good (became dead letters), counting each replay's failure again."""
    failed_attempts: int
    """Attempts that ended in an error, including expired leases."""
    throttled_claims: int = 0
    """Claims that the queue's rate or concurrency limit cut short while tasks were due."""

    @property
    def retried(self) -> int:
        """Failed attempts that were followed by another attempt."""
        return self.failed_attempts - self.failed


@dataclass(frozen=True, slots=True)
class ProcessingTimes:
    """How long the last attempt ran, for tasks of one queue that finished in a window."""

    queue: str
    status: str
    buckets: tuple[tuple[float, int], ...]
    """(upper bound in seconds, how many ran at most that long), bounds ascending."""
    count: int
    total_seconds: float
