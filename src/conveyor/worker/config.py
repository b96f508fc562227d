"""How a worker runs: slots, leases, grace period and the intervals of its duties."""

from __future__ import annotations

from dataclasses import dataclass

from conveyor.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    concurrency: int = 10
    claim_ahead: bool = True
    """Claim beyond the free slots what the worker starts in the next 50 ms at its rate."""
    lease_seconds: float = 30.0
    grace_seconds: float = 30.0
    reap_interval: float = 5.0
    prune_interval: float = 60.0
    completed_retention: float = 7 * 86400.0
    failed_retention: float = 30 * 86400.0

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ConfigurationError(f"concurrency must be at least 1, not {self.concurrency}")
        if self.lease_seconds <= 0:
            raise ConfigurationError(f"lease_seconds must be positive, not {self.lease_seconds}")
        if self.grace_seconds < 0:
            raise ConfigurationError(f"grace_seconds must not be negative: {self.grace_seconds}")
        for name in ("reap_interval", "prune_interval"):
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"{name} must be positive, not {getattr(self, name)}")
