"""Queue settings as values. A queue with no stored settings has the defaults."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class QueueSettings:
    name: str
    paused: bool = False
    """A paused queue's tasks are not claimed; attempts already running finish."""
