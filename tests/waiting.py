"""`wait_until`: the only way a test waits.

A test never sleeps to let something happen; it polls for the state it needs and fails
with a message naming what it waited for when that state does not come.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.01,
    message: str = "",
) -> T:
    """Call `predicate` until it returns something truthy, and return that.

    >>> wait_until(lambda: 42)
    42
    """
    what = message or getattr(predicate, "__qualname__", repr(predicate))
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what} (last value: {value!r})"
            )
        time.sleep(interval)
