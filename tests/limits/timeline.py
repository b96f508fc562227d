"""Reading a sink's executions as a timeline: overlaps and starts per window."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence

from tests.limits.sink import Execution


def max_overlap(runs: Iterable[Execution]) -> int:
    """The most executions that were running at one instant.

    An execution that ends at the very instant another starts does not overlap it.

    >>> e = lambda s, t: Execution("x", None, s, t, 1)
    >>> max_overlap([e(0, 2), e(1, 3), e(2, 4)])
    2
    """
    events: list[tuple[float, int]] = []
    for run in runs:
        assert run.end is not None, f"{run.label} has not finished"
        events += [(run.start, 1), (run.end, -1)]
    events.sort()  # at one instant, ends (-1) come before starts (+1)
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most


def most_starts_in_window(starts: Sequence[float], window: float) -> int:
    """The most starts within `window` seconds of any start: [s, s + window).

    >>> most_starts_in_window([0.0, 0.5, 0.99, 1.0, 1.2], 1.0)
    3
    """
    ordered = sorted(starts)
    return max(
        (bisect.bisect_left(ordered, s + window) - i for i, s in enumerate(ordered)), default=0
    )


def overlapping(a: Execution, b: Execution) -> bool:
    assert a.end is not None and b.end is not None
    return a.start < b.end and b.start < a.end
