"""The test's side of the sink `tests.limits.app` writes: executions with start and end."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Execution:
    """One run of a handler, as the handler itself saw it."""

    label: str
    key: str | None
    start: float
    end: float | None
    pid: int
    failed: bool = False


class Sink:
    """One test's executions; tasks name `str(sink)` as their first argument."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __str__(self) -> str:
        return str(self.path)

    def lines(self) -> list[dict[str, object]]:
        if not self.path.exists():
            return []
        text = self.path.read_text()
        # A line being appended right now may be incomplete: only whole lines count.
        return [json.loads(line) for line in text.split("\n")[:-1]]

    def executions(self) -> list[Execution]:
        """Every execution in order of its start; `end` is None while it runs."""
        open_: dict[tuple[str, int], list[dict[str, object]]] = {}
        runs: list[Execution] = []
        for line in self.lines():
            label, pid = str(line["label"]), int(line["pid"])  # type: ignore[call-overload]
            if line["event"] == "start":
                open_.setdefault((label, pid), []).append(line)
            else:
                start = open_[(label, pid)].pop(0)
                runs.append(_execution(start, line))
        runs += [_execution(s, None) for pending in open_.values() for s in pending]
        return sorted(runs, key=lambda r: r.start)

    def finished(self) -> list[Execution]:
        return [r for r in self.executions() if r.end is not None]

    def started_labels(self) -> set[str]:
        return {r.label for r in self.executions()}


def _execution(start: dict[str, object], end: dict[str, object] | None) -> Execution:
    return Execution(
        label=str(start["label"]),
        key=None if start["key"] is None else str(start["key"]),
        start=float(start["t"]),  # type: ignore[arg-type]
        end=None if end is None else float(end["t"]),  # type: ignore[arg-type]
        pid=int(start["pid"]),  # type: ignore[call-overload]
        failed=bool(end and end.get("failed")),
    )
