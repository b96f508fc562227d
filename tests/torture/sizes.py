"""How hard the torture suite pushes: small in CI (`make test`), full in `make torture`.

`CONVEYOR_TORTURE=full` selects the sizes of issue 9; anything else, the CI sizes, which
keep the whole folder to about a minute on both backends together.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Sizes:
    name: str
    kill_tasks: int
    kills: int
    http_seconds: float
    outage_seconds: float
    outage_tasks: int
    submits: int
    submit_rounds: int
    submit_processes: int
    shutdown_tasks: int
    terms: int
    disk_tasks: int


CI = Sizes(
    name="ci",
    kill_tasks=1_000,
    kills=6,
    http_seconds=2.0,
    outage_seconds=3.0,
    outage_tasks=500,
    submits=20,
    submit_rounds=1,
    submit_processes=4,
    shutdown_tasks=500,
    terms=3,
    disk_tasks=500,
)
FULL = Sizes(
    name="full",
    kill_tasks=20_000,
    kills=100,
    http_seconds=20.0,
    outage_seconds=30.0,
    outage_tasks=10_000,
    submits=50,
    submit_rounds=5,
    submit_processes=10,
    shutdown_tasks=10_000,
    terms=20,
    disk_tasks=5_000,
)


def current() -> Sizes:
    return FULL if os.environ.get("CONVEYOR_TORTURE", "").lower() == "full" else CI
