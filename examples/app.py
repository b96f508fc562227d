"""The example app that `conveyor dev` runs: a few tasks showing the main features.

conveyor enqueue add --args '[1, 2]'
conveyor enqueue send_welcome --kwargs '{"to": "ada@example.com"}' --priority high
conveyor enqueue flaky --args '[0.5]'
"""

from __future__ import annotations

import asyncio
import random

from conveyor import Conveyor

app = Conveyor()  # CONVEYOR_URL, or sqlite:///conveyor.db


@app.task
def add(a: int, b: int) -> int:
    return a + b


@app.task(queue="emails", timeout=10)
async def send_welcome(to: str) -> dict[str, str]:
    await asyncio.sleep(0.1)
    return {"to": to, "status": "sent"}


@app.periodic(every=60)
@app.task
def heartbeat() -> str:
    """Runs once a minute, however many workers and servers run."""
    return "alive"


@app.task(max_attempts=5, min_backoff=0.5)
def flaky(failure_rate: float = 0.5) -> str:
    if random.random() < failure_rate:
        raise RuntimeError("the flaky service said no")
    return "ok"
