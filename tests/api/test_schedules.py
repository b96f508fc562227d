"""`GET /api/v1/schedules`: each periodic task with its next run, for readers."""

from __future__ import annotations

from datetime import datetime, timedelta

from conveyor import Conveyor
from tests.api.conftest import API, READER, TOKENS, StartServer


def test_schedules_list_each_schedule_with_its_next_run(
    app: Conveyor, start_server: StartServer
) -> None:
    @app.periodic(cron="*/5 * * * *", timezone="Europe/Berlin", misfire="skip")
    @app.periodic(every=timedelta(seconds=30), name="often", queue="fast")
    @app.task
    def report() -> None: ...

    server = start_server(TOKENS)
    assert server.client().get(f"{API}/schedules").status_code == 401
    response = server.client(READER).get(f"{API}/schedules")

    assert response.status_code == 200, response.text
    often, every_five = response.json()["schedules"]
    assert often["name"] == "often"
    assert often["queue"] == "fast"
    assert often["every_seconds"] == 30
    assert often["cron"] is None
    assert every_five["name"] == "report"
    assert every_five["cron"] == "*/5 * * * *"
    assert every_five["timezone"] == "Europe/Berlin"
    assert every_five["misfire"] == "skip"
    next_run = datetime.fromisoformat(every_five["next_run_at"])
    assert next_run.minute % 5 == 0
    assert next_run.second == 0
