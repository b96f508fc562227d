"""Settings: explicit arguments win over CONVEYOR_* environment variables, which win
over defaults. The URL is checked here so a typo fails at start with a clear message."""

from __future__ import annotations

import os
from collections.abc import Sequence

from conveyor.push.guard import AllowList
from conveyor.store import check_url

DEFAULT_URL = "sqlite:///conveyor.db"


def resolve_url(url: str | None) -> str:
    """The store URL: the argument, else CONVEYOR_URL, else an embedded SQLite file."""
    chosen = url or os.environ.get("CONVEYOR_URL") or DEFAULT_URL
    check_url(chosen)
    return chosen


def resolve_push_allow(value: str | Sequence[str] | None) -> AllowList:
    """The push allow-list: the argument, else CONVEYOR_PUSH_ALLOW, else empty (every
    push target refused until the operator names what may be reached)."""
    chosen = value if value is not None else os.environ.get("CONVEYOR_PUSH_ALLOW", "")
    return AllowList.parse(chosen)
