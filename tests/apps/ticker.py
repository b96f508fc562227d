"""A test app with one per-second schedule, for real `conveyor worker` processes."""

from __future__ import annotations

from conveyor import Conveyor

app = Conveyor()


@app.periodic(every=1, kwargs={"source": "ticker"})
@app.task
def tick(source: str) -> str:
    return source
