"""Print the torture suite's scorecard from its results file.

    python -m tests.torture.scorecard torture-results.jsonl [--markdown]

The last result of each (scenario, backend) wins, so a rerun replaces its line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

COLUMNS = [
    "scenario",
    "backend",
    "load",
    "faults injected",
    "tasks lost",
    "duplicates",
    "stuck",
    "recovery time p99",
]


ORDER = [
    "SIGKILL workers under load",
    "SIGKILL server during HTTP enqueue",
    "PostgreSQL restarted, then down",
    "SQLite on a full disk",
    "worker clock jumps +1 h",
    "concurrent submits, one idempotency key",
    "handler hangs or leaks past its timeout",
    "graceful shutdown under load",
]
"""The issue's order; a scenario not named here comes last."""


def rank(row: dict[str, Any]) -> tuple[int, str, str]:
    scenario = row["scenario"]
    where = ORDER.index(scenario) if scenario in ORDER else len(ORDER)
    return where, scenario, "0" if row["backend"] == "sqlite" else row["backend"]


def load(path: Path) -> list[dict[str, Any]]:
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            latest[(row["scenario"], row["backend"])] = row
    return sorted(latest.values(), key=rank)


def cells(row: dict[str, Any]) -> list[str]:
    p99 = row["recovery_p99"]
    recovery = "—" if p99 is None else f"{p99:.2f} s"
    return [
        row["scenario"],
        row["backend"],
        row["load"],
        row["faults"],
        str(row["lost"]),
        str(row["duplicates"]),
        str(row["stuck"]),
        recovery,
    ]


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cells(row)) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv or not Path(argv[0]).exists():
        print("no torture results to show; run `make torture` first", file=sys.stderr)
        return 1
    rows = load(Path(argv[0]))
    if "--markdown" in argv:
        print(markdown(rows))
        return 0
    sizes = sorted({row["size"] for row in rows})
    table = Table(title=f"Conveyor torture scorecard ({', '.join(sizes)} sizes)")
    for column in COLUMNS:
        table.add_column(column)
    for row in rows:
        table.add_row(*cells(row))
    Console(width=200).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
