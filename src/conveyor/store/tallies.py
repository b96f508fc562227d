"""Rows of the `totals` and `processing_times` queries as values, the same for both backends."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import groupby
from typing import Any

from conveyor.core.tallies import ProcessingTimes, QueueTotals


def totals_from_rows(rows: Iterable[Mapping[str, Any]]) -> list[QueueTotals]:
    return [
        QueueTotals(
            queue=row["queue"],
            enqueued=int(row["enqueued"]),
            completed=int(row["completed"]),
            failed=int(row["failed"]),
            failed_attempts=int(row["failed_attempts"]),
            throttled_claims=int(row["throttled_claims"]),
        )
        for row in rows
    ]


def times_from_rows(rows: Iterable[Mapping[str, Any]]) -> list[ProcessingTimes]:
    """One value per (queue, status) from its rows, one per bucket, in bucket order."""
    found: list[ProcessingTimes] = []
    for (queue, status), group in groupby(rows, key=lambda r: (r["queue"], r["status"])):
        bucket_rows = list(group)
        found.append(
            ProcessingTimes(
                queue=queue,
                status=status,
                buckets=tuple((float(r["le"]), int(r["n"])) for r in bucket_rows),
                count=int(bucket_rows[0]["count"]),
                total_seconds=float(bucket_rows[0]["total"]),
            )
        )
    return found
