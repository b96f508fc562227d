"""Settings: explicit arguments win over CONVEYOR_* environment variables, which win
over defaults. The URL is checked here so a typo fails at start with a clear message."""

from __future__ import annotations

import os

from conveyor.store import check_url

DEFAULT_URL = "sqlite:///conveyor.db"


def resolve_url(url: str | None) -> str:
    """The store URL: the argument, else CONVEYOR_URL, else an embedded SQLite file."""
    chosen = url or os.environ.get("CONVEYOR_URL") or DEFAULT_URL
    check_url(chosen)
    return chosen
