"""Sparklines: a series of counts as the points of an inline SVG polyline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 120
HEIGHT = 28
PAD = 2


@dataclass(frozen=True, slots=True)
class Sparkline:
    completed: str
    failed: str
    peak: int
    width: int = WIDTH
    height: int = HEIGHT


def points(values: Sequence[int], peak: int, width: int = WIDTH, height: int = HEIGHT) -> str:
    """SVG polyline points for `values`, scaled so `peak` touches the top.

    >>> points([0, 2, 1], peak=2, width=10, height=10)
    '2.0,8.0 5.0,2.0 8.0,5.0'
    """
    if not values:
        return ""
    inner_w, inner_h = width - 2 * PAD, height - 2 * PAD
    step = inner_w / (len(values) - 1) if len(values) > 1 else 0.0
    top = max(peak, 1)
    return " ".join(
        f"{PAD + i * step:.1f},{PAD + inner_h * (1 - v / top):.1f}" for i, v in enumerate(values)
    )


def sparkline(completed: Sequence[int], failed: Sequence[int]) -> Sparkline:
    peak = max([*completed, *failed, 0])
    return Sparkline(points(completed, peak), points(failed, peak), peak)
