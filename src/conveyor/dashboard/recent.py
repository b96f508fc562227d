"""The overview's activity, read at most once per interval and shared by every viewer.

The activity query scans the last hour of finished tasks; with several people watching
the overview, which refreshes every two seconds, each poll would repeat that scan.
The buckets are five minutes wide, so numbers a few seconds old lose nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

MAX_AGE_SECONDS = 10.0


class Recent(Generic[T]):
    """`get()` returns the value `read()` gave at most `max_age_seconds` ago."""

    def __init__(
        self,
        read: Callable[[], T],
        max_age_seconds: float = MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read, self._max_age, self._clock = read, max_age_seconds, clock
        self._value: T | None = None
        self._read_at: float | None = None
        # Held while reading, so viewers arriving together wait for one read, not make many.
        self._lock = threading.Lock()

    def get(self) -> T:
        with self._lock:
            now = self._clock()
            if self._value is None or self._read_at is None or now - self._read_at >= self._max_age:
                self._value = self._read()
                self._read_at = now
            return self._value
