"""The sink app plus what the dashboard tests need: a task that fails until a gate opens,
and a task on a second queue, so one worker serves two queues."""

from __future__ import annotations

from pathlib import Path

from conveyor import Conveyor
from tests.apps.sink import build as build_sink
from tests.apps.sink import record, run


def flaky(key: str, gate: str) -> str:
    """Fails while the file `gate` is missing, succeeds once it exists."""
    record("run", key)
    if not Path(gate).exists():
        raise RuntimeError(f"gate {gate} is still shut")
    return key


def build(url: str | None = None) -> Conveyor:
    app = build_sink(url)
    app.task(max_attempts=1)(flaky)
    elsewhere = app.task(name="elsewhere", queue="other")(run)
    # New Year only: the schedules page has a row, and no test sees it fire.
    app.periodic(cron="0 3 1 1 *", kwargs={"key": "new-year"}, name="new-year", misfire="skip")(
        elsewhere
    )
    return app


app = build()
