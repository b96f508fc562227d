"""`GET /api/v1/schedules`: each periodic task with its next run, for readers."""

from __future__ import annotations

from datetime import datetime, timedelta

from conveyor import Conveyor
from tests.api.conftest import ADMIN, API, READER, TOKENS, StartServer


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


def test_http_puts_lists_and_deletes_stored_schedules(
    app: Conveyor, start_server: StartServer
) -> None:
    server = start_server(TOKENS)
    body = {"task": "report", "cron": "0 3 * * *", "timezone": "Europe/Berlin"}

    assert server.client(READER).put(f"{API}/schedules/nightly", json=body).status_code == 403
    response = server.client(ADMIN).put(f"{API}/schedules/nightly", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["stored"] is True
    assert response.json()["cron"] == "0 3 * * *"

    bad = server.client(ADMIN).put(f"{API}/schedules/x", json={"task": "report"})
    assert bad.status_code == 422
    assert "exactly one of cron and every_seconds" in bad.text

    listed = server.client(READER).get(f"{API}/schedules").json()["schedules"]
    assert [(s["name"], s["stored"]) for s in listed] == [("nightly", True)]

    assert server.client(ADMIN).delete(f"{API}/schedules/nightly").status_code == 204
    assert server.client(ADMIN).delete(f"{API}/schedules/nightly").status_code == 404
    assert app.store.list_schedules() == []
