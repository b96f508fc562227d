"""Each scenario's figures, one JSON line per run, for the scorecard.

The file is `CONVEYOR_TORTURE_RESULTS` when set (as `make torture` does), otherwise
`torture-results.jsonl` in pytest's temporary folder, so `make test` leaves nothing behind.

Recovery time is measured per fault, from the moment the fault is injected (the SIGKILL
sent, the database back up, the disk freed...) until the system is making progress
again as the scenario defines it; the scorecard shows the 99th percentile (nearest rank)
over the faults of one run.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(slots=True)
class Result:
    scenario: str
    backend: str
    load: str
    faults: str
    lost: int = 0
    duplicates: int = 0
    stuck: int = 0
    recoveries: list[float] = field(default_factory=list)
    size: str = ""

    def p99(self) -> float | None:
        return percentile(self.recoveries, 99)

    def line(self) -> str:
        fields = asdict(self)
        fields["recovery_p99"] = self.p99()
        fields["recoveries"] = [round(r, 3) for r in self.recoveries]
        return json.dumps(fields)


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
    2.0
    >>> percentile([], 99) is None
    True
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def results_path(default_folder: Path) -> Path:
    named = os.environ.get("CONVEYOR_TORTURE_RESULTS")
    return Path(named) if named else default_folder / "torture-results.jsonl"


def append(path: Path, result: Result) -> None:
    with path.open("a") as out:
        out.write(result.line() + "\n")
