"""Jinja2 pages: one environment with autoescape always on, and the filters pages use."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("conveyor.dashboard", "templates"),
        # Every template is HTML and shows text from tasks: escape everything, always.
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        pretty_json=pretty_json,
        when=when,
        ago=ago,
        seconds=seconds,
        percent=percent,
    )
    return env


def pretty_json(value: Any) -> str:
    """JSON indented for reading; the template escapes it like any text.

    >>> print(pretty_json({"a": [1, "<b>"]}))
    {
      "a": [
        1,
        "<b>"
      ]
    }
    """
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def when(value: datetime | None) -> str:
    """A timestamp in UTC, to the second.

    >>> when(datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC))
    '2026-01-02 03:04:05 UTC'
    """
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """How long ago (or how far ahead) `value` is, in the largest sensible unit.

    >>> at = datetime(2026, 1, 1, tzinfo=UTC)
    >>> ago(at, datetime(2026, 1, 1, 0, 2, tzinfo=UTC))
    '2 min ago'
    >>> ago(at, datetime(2025, 12, 31, 23, tzinfo=UTC))
    'in 1 h'
    """
    if value is None:
        return ""
    delta = ((now or datetime.now(UTC)) - value).total_seconds()
    text = seconds(abs(delta))
    return f"{text} ago" if delta >= 0 else f"in {text}"


def seconds(value: float | None) -> str:
    """A duration for people: ms under a second, then s, min, h, d.

    >>> seconds(0.0123), seconds(4.2), seconds(125), seconds(7300), seconds(None)
    ('12 ms', '4.2 s', '2 min', '2 h', '—')
    """
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.1f} s"
    if value < 3600:
        return f"{value / 60:.0f} min"
    if value < 86400:
        return f"{value / 3600:.0f} h"
    return f"{value / 86400:.0f} d"


def percent(value: float | None) -> str:
    """A share as a percentage.

    >>> percent(0.125), percent(None)
    ('12.5%', '—')
    """
    return "—" if value is None else f"{value * 100:.1f}%"
