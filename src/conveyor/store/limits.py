"""A queue's limits as one claim sees them: settings, tasks running, tokens in the bucket.

Both backends read this inside the claim's transaction (PostgreSQL with the queue row
locked), so what it allows holds across every worker at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from conveyor.core.limits import allowance, bucket_tokens, throttled_for
from conveyor.core.queue import QueueSettings


@dataclass(frozen=True, slots=True)
class QueueState:
    settings: QueueSettings
    running: int
    tokens: float | None
    """Tokens in the bucket now; None when the queue has no rate limit."""

    @classmethod
    def of(
        cls, settings: QueueSettings, row: Mapping[str, Any] | None, running: int, now: float
    ) -> QueueState:
        tokens = None
        if settings.rate is not None and row is not None:
            tokens = bucket_tokens(
                row["tokens"], _seconds(row["tokens_at"]), now, settings.rate, settings.bucket_size
            )
        return cls(settings, running, tokens)

    def allowance(self, limit: int) -> int:
        return allowance(limit, self.running, self.settings.max_concurrent, self.tokens)

    def throttled_for(self) -> float:
        return throttled_for(
            self.running, self.settings.max_concurrent, self.tokens, self.settings.rate
        )


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    return value.timestamp() if isinstance(value, datetime) else float(value)
