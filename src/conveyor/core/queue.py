"""Queue settings as values. A queue with no stored settings has the defaults.

Every limit here is enforced by the store inside the claim, so it holds across every
worker process and host together. `None` means "no limit" (or, for the retry policy,
"the task's own policy, else the defaults").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

from conveyor.core.limits import parse_duration, parse_rate
from conveyor.core.target import Target
from conveyor.core.task import Priority
from conveyor.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class QueueSettings:
    name: str
    paused: bool = False
    """A paused queue's tasks are not claimed; attempts already running finish."""
    rate: float | None = None
    """Token bucket: tasks started per second, across all workers."""
    burst: int | None = None
    """Token bucket size: starts allowed at once after a quiet spell (default: 1)."""
    max_concurrent: int | None = None
    """Tasks of this queue running at once, across all workers."""
    max_per_key: int | None = None
    """Tasks with one `concurrency_key` running at once."""
    max_attempts: int | None = None
    min_backoff: float | None = None
    max_backoff: float | None = None
    max_doublings: int | None = None
    age_limit: float | None = None
    """Seconds after enqueue when a failing task fails for good instead of retrying."""
    lease_seconds: float | None = None
    completed_retention: float | None = None
    failed_retention: float | None = None
    priority: Priority | None = None
    """Priority of tasks enqueued without one."""
    secret_fields: tuple[str, ...] = ()
    """Payload keys whose values are secret: the HTTP API (every reader, admin included)
    and log lines show them as "***"; the handler still receives the real values."""
    target: Target | None = None
    """Push delivery: the dispatcher POSTs this queue's tasks to the target."""
    secret: str | None = field(default=None, repr=False)
    """Signs push requests. Never shown: see `redacted`."""
    previous_secret: str | None = field(default=None, repr=False)
    """Still signed with during a rotation, so receivers holding either secret verify."""

    @property
    def secrets(self) -> list[str]:
        """Signing secrets, the current one first."""
        return [s for s in (self.secret, self.previous_secret) if s]

    @property
    def limited(self) -> bool:
        """Whether claims must take this queue's lock to respect its limits."""
        return any(v is not None for v in (self.rate, self.max_concurrent, self.max_per_key))

    @property
    def bucket_size(self) -> int:
        return self.burst if self.burst is not None else 1

    def updated(self, **changes: Any) -> QueueSettings:
        """A copy with `changes` applied and checked; unknown names are refused."""
        known = {f.name for f in fields(self)} - {"name"}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ConfigurationError(
                f"queue {self.name!r}: unknown setting(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        return check(replace(self, **changes))


def check(s: QueueSettings) -> QueueSettings:
    """Refuse settings that cannot work, naming the setting."""
    if not s.name or len(s.name) > 200:
        raise ConfigurationError(f"queue name {s.name!r} must be 1 to 200 characters")
    _positive(s, "rate", s.rate)
    for name in ("burst", "max_concurrent", "max_per_key", "max_attempts"):
        value = getattr(s, name)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ConfigurationError(f"queue {s.name!r}: {name} must be a whole number >= 1")
    for name in (
        "min_backoff",
        "max_backoff",
        "age_limit",
        "lease_seconds",
        "completed_retention",
        "failed_retention",
    ):
        _positive(s, name, getattr(s, name), allow_zero=name == "min_backoff")
    _secret_fields(s)
    if s.max_doublings is not None and s.max_doublings < 0:
        raise ConfigurationError(f"queue {s.name!r}: max_doublings must not be negative")
    for name in ("secret", "previous_secret"):
        value = getattr(s, name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigurationError(f"queue {s.name!r}: {name} must be a non-empty string")
    if s.previous_secret is not None and s.secret is None:
        raise ConfigurationError(
            f"queue {s.name!r}: previous_secret is set without a secret to sign with"
        )
    if None not in (s.min_backoff, s.max_backoff) and s.max_backoff < s.min_backoff:  # type: ignore[operator]
        raise ConfigurationError(f"queue {s.name!r}: max_backoff is below min_backoff")
    return s


MAX_SECRET_FIELDS = 100


def _secret_fields(s: QueueSettings) -> None:
    names = s.secret_fields
    if not isinstance(names, tuple) or len(names) > MAX_SECRET_FIELDS:
        raise ConfigurationError(
            f"queue {s.name!r}: secret_fields must be a list of at most "
            f"{MAX_SECRET_FIELDS} payload keys"
        )
    for name in names:
        if not isinstance(name, str) or not 1 <= len(name) <= 200:
            raise ConfigurationError(
                f"queue {s.name!r}: secret_fields entry {name!r} must be a payload key "
                "of 1 to 200 characters"
            )


def _positive(s: QueueSettings, name: str, value: float | None, allow_zero: bool = False) -> None:
    if value is None:
        return
    if not isinstance(value, int | float) or math.isnan(value) or math.isinf(value):
        raise ConfigurationError(f"queue {s.name!r}: {name} must be a number")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigurationError(f"queue {s.name!r}: {name} must be positive, not {value}")


DURATIONS = (
    "min_backoff",
    "max_backoff",
    "age_limit",
    "lease_seconds",
    "completed_retention",
    "failed_retention",
)


def _key_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ConfigurationError(f"secret_fields must be a list of payload keys, not {value!r}")
    return tuple(value)


def coerce(changes: dict[str, Any]) -> dict[str, Any]:
    """Settings as people write them (`rate="50/s"`, `age_limit="2h"`, `priority="high"`)
    turned into values; None clears a setting back to its default.

    >>> coerce({"rate": "30/m", "age_limit": "5m", "priority": "low"})
    {'rate': 0.5, 'age_limit': 300.0, 'priority': <Priority.LOW: 2>}
    """
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if value is None:
            out[key] = () if key == "secret_fields" else None
        elif key in DURATIONS:
            try:
                out[key] = parse_duration(value)
            except ConfigurationError as exc:
                raise ConfigurationError(f"{key}: {exc}") from None
        else:
            out[key] = _COERCE.get(key, _as_given)(value)
    return out


def _as_given(value: Any) -> Any:
    return value


def _paused(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"paused must be true or false, not {value!r}")
    return value


_COERCE: dict[str, Callable[[Any], Any]] = {
    "rate": parse_rate,
    "priority": Priority.parse,
    "secret_fields": _key_list,
    "target": Target.parse,
    "paused": _paused,
}
"""How each setting that is not a duration is read from what people write."""
