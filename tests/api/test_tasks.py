"""Submit, inspect, list and cancel tasks over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from conveyor import Conveyor
from conveyor.core.task import Priority, Status
from tests.api.conftest import API, error_of, lease, snapshot, submit

ACCEPTED = {"task_id", "status", "created_at"}
TASK_FIELDS = {
    "task_id",
    "type",
    "queue",
    "status",
    "priority",
    "attempts",
    "max_attempts",
    "result",
    "errors",
    "created_at",
    "scheduled_at",
    "started_at",
    "finished_at",
}


def parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, f"{text} has no timezone"
    return moment


# -- submit ---------------------------------------------------------------------------


def test_submit_answers_202_with_id_status_and_created_at(
    client: httpx.Client, app: Conveyor
) -> None:
    before = datetime.now(UTC)
    response = client.post(
        f"{API}/tasks",
        json={
            "type": "send_email",
            "payload": {"to": "ada@example.com", "retries": 2},
            "priority": "high",
            "queue": "emails",
        },
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert set(body) == ACCEPTED
    assert body["status"] == "queued"
    assert before - timedelta(seconds=5) <= parse_time(body["created_at"]) <= datetime.now(UTC)

    stored = app.get(body["task_id"])
    assert stored.name == "send_email"
    assert stored.queue == "emails"
    assert stored.priority is Priority.HIGH
    assert stored.kwargs == {"to": "ada@example.com", "retries": 2}
    assert stored.args == []
    assert stored.status is Status.QUEUED


def test_payload_reaches_the_worker_as_keyword_arguments(client: httpx.Client) -> None:
    accepted = submit(client, "resize", payload={"width": 640, "tags": ["a", "b"]})
    [leased] = lease(client)
    assert leased["task_id"] == accepted["task_id"]
    assert leased["type"] == "resize"
    assert leased["payload"] == {"width": 640, "tags": ["a", "b"]}


def test_get_shows_every_field_of_the_task(client: httpx.Client) -> None:
    accepted = submit(client, "report", payload={"month": 5}, queue="reports", priority="low")
    response = client.get(f"{API}/tasks/{accepted['task_id']}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) >= TASK_FIELDS
    assert body["task_id"] == accepted["task_id"]
    assert body["type"] == "report"
    assert body["queue"] == "reports"
    assert body["status"] == "queued"
    assert body["priority"] == "low"
    assert body["attempts"] == 0
    assert body["max_attempts"] == 3
    assert body["result"] is None
    assert body["errors"] == []
    assert body["created_at"] == accepted["created_at"]
    assert parse_time(body["scheduled_at"]) <= datetime.now(UTC)
    assert body["started_at"] is None
    assert body["finished_at"] is None


def test_get_of_an_unknown_id_is_404(client: httpx.Client) -> None:
    error = error_of(client.get(f"{API}/tasks/no-such-task"), 404)
    assert error["code"] == "not_found"
    assert "no-such-task" in error["message"]


def test_max_attempts_and_timeout_are_stored(client: httpx.Client, app: Conveyor) -> None:
    accepted = submit(client, "slow", max_attempts=7, timeout_seconds=12.5)
    stored = app.get(accepted["task_id"])
    assert stored.max_attempts == 7
    assert stored.timeout == 12.5


# -- scheduling -------------------------------------------------------------------------


def test_delay_seconds_makes_the_task_scheduled(client: httpx.Client) -> None:
    accepted = submit(client, "later", delay_seconds=60)
    assert accepted["status"] == "scheduled"
    body = client.get(f"{API}/tasks/{accepted['task_id']}").json()
    assert body["status"] == "scheduled"
    delay = parse_time(body["scheduled_at"]) - parse_time(body["created_at"])
    assert timedelta(seconds=59) <= delay <= timedelta(seconds=61)
    assert lease(client) == []


def test_scheduled_at_in_the_future_makes_the_task_scheduled(client: httpx.Client) -> None:
    when = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    accepted = submit(client, "later", scheduled_at=when.isoformat())
    assert accepted["status"] == "scheduled"
    body = client.get(f"{API}/tasks/{accepted['task_id']}").json()
    assert parse_time(body["scheduled_at"]) == when


def test_scheduled_at_with_an_offset_is_the_same_instant(client: httpx.Client) -> None:
    when = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    local = when.astimezone(timezone(timedelta(hours=5)))
    accepted = submit(client, "later", scheduled_at=local.isoformat())
    body = client.get(f"{API}/tasks/{accepted['task_id']}").json()
    assert parse_time(body["scheduled_at"]) == when


def test_scheduled_at_in_the_past_is_queued_now(client: httpx.Client) -> None:
    when = datetime.now(UTC) - timedelta(minutes=5)
    accepted = submit(client, "overdue", scheduled_at=when.isoformat())
    assert accepted["status"] == "queued"
    assert [t["task_id"] for t in lease(client)] == [accepted["task_id"]]


def test_delay_and_scheduled_at_together_are_refused(client: httpx.Client, app: Conveyor) -> None:
    response = client.post(
        f"{API}/tasks",
        json={"type": "x", "delay_seconds": 5, "scheduled_at": datetime.now(UTC).isoformat()},
    )
    error = error_of(response, 422)
    assert "delay_seconds" in error["message"]
    assert app.list_tasks().tasks == []


# -- idempotency ------------------------------------------------------------------------


def test_repeated_idempotency_key_in_the_body_returns_the_first_task(
    client: httpx.Client, app: Conveyor
) -> None:
    first = submit(client, "charge", payload={"cents": 100}, idempotency_key="order-17")
    again = submit(client, "charge", payload={"cents": 999}, idempotency_key="order-17")
    assert again["task_id"] == first["task_id"]
    assert again["created_at"] == first["created_at"]
    [stored] = app.list_tasks().tasks
    assert stored.kwargs == {"cents": 100}
    assert stored.idempotency_key == "order-17"


def test_repeated_idempotency_key_header_returns_the_first_task(
    client: httpx.Client, app: Conveyor
) -> None:
    headers = {"Idempotency-Key": "order-18"}
    first = client.post(f"{API}/tasks", json={"type": "charge"}, headers=headers)
    again = client.post(f"{API}/tasks", json={"type": "charge"}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json()["task_id"] == first.json()["task_id"]
    [stored] = app.list_tasks().tasks
    assert stored.idempotency_key == "order-18"


def test_the_header_and_the_body_name_the_same_key(client: httpx.Client, app: Conveyor) -> None:
    first = submit(client, "charge", idempotency_key="order-19")
    again = client.post(
        f"{API}/tasks", json={"type": "charge"}, headers={"Idempotency-Key": "order-19"}
    )
    assert again.json()["task_id"] == first["task_id"]
    assert len(app.list_tasks().tasks) == 1


def test_repeated_key_returns_the_task_as_it_is_now(client: httpx.Client) -> None:
    first = submit(client, "charge", idempotency_key="order-20")
    lease(client)
    again = submit(client, "charge", idempotency_key="order-20")
    assert again["task_id"] == first["task_id"]
    assert again["status"] == "running"


def test_different_keys_make_different_tasks(client: httpx.Client, app: Conveyor) -> None:
    a = submit(client, "charge", idempotency_key="a")
    b = submit(client, "charge", idempotency_key="b")
    c = submit(client, "charge")
    assert len({a["task_id"], b["task_id"], c["task_id"]}) == 3
    assert len(app.list_tasks().tasks) == 3


def test_an_empty_idempotency_key_header_is_refused(client: httpx.Client, app: Conveyor) -> None:
    response = client.post(f"{API}/tasks", json={"type": "x"}, headers={"Idempotency-Key": ""})
    error = error_of(response, 422)
    assert "idempotency-key" in error["message"].lower()
    assert app.list_tasks().tasks == []


# -- cancel -----------------------------------------------------------------------------


def test_cancel_a_queued_task(client: httpx.Client, app: Conveyor) -> None:
    accepted = submit(client, "x")
    response = client.delete(f"{API}/tasks/{accepted['task_id']}")
    assert response.status_code == 200, response.text
    assert response.json() == {"task_id": accepted["task_id"], "status": "cancelled"}
    assert app.get(accepted["task_id"]).status is Status.CANCELLED
    assert client.get(f"{API}/tasks/{accepted['task_id']}").json()["status"] == "cancelled"
    assert lease(client) == []


def test_cancel_a_scheduled_task(client: httpx.Client) -> None:
    accepted = submit(client, "x", delay_seconds=600)
    response = client.delete(f"{API}/tasks/{accepted['task_id']}")
    assert response.json() == {"task_id": accepted["task_id"], "status": "cancelled"}


def test_cancel_a_running_task_fences_out_its_worker(client: httpx.Client) -> None:
    submit(client, "x")
    [leased] = lease(client)
    response = client.delete(f"{API}/tasks/{leased['task_id']}")
    assert response.json() == {"task_id": leased["task_id"], "status": "cancelled"}
    done = client.post(f"{API}/tasks/{leased['task_id']}/complete", json={"token": leased["token"]})
    error = error_of(done, 409)
    assert error["details"] == {"status": "cancelled"}


def test_cancelling_twice_is_harmless(client: httpx.Client) -> None:
    accepted = submit(client, "x")
    client.delete(f"{API}/tasks/{accepted['task_id']}")
    again = client.delete(f"{API}/tasks/{accepted['task_id']}")
    assert again.status_code == 200
    assert again.json()["status"] == "cancelled"


def test_cancel_a_finished_task_is_409_with_its_status(client: httpx.Client, app: Conveyor) -> None:
    submit(client, "x")
    [leased] = lease(client)
    client.post(
        f"{API}/tasks/{leased['task_id']}/complete", json={"token": leased["token"], "result": 1}
    )
    error = error_of(client.delete(f"{API}/tasks/{leased['task_id']}"), 409)
    assert error["code"] == "conflict"
    assert error["details"] == {"status": "completed"}
    assert "completed" in error["message"]
    assert app.get(leased["task_id"]).status is Status.COMPLETED


def test_cancel_an_unknown_task_is_404(client: httpx.Client) -> None:
    error_of(client.delete(f"{API}/tasks/no-such-task"), 404)


# -- batch ------------------------------------------------------------------------------


def test_batch_answers_every_task_in_order(client: httpx.Client, app: Conveyor) -> None:
    items = [
        {"type": "a", "payload": {"n": 1}},
        {"type": "b", "queue": "other", "delay_seconds": 300},
        {"type": "c", "priority": "high"},
    ]
    response = client.post(f"{API}/tasks/batch", json={"tasks": items})
    assert response.status_code == 202, response.text
    body = response.json()
    assert set(body) == {"tasks"}
    assert [set(t) for t in body["tasks"]] == [ACCEPTED] * 3
    assert [t["status"] for t in body["tasks"]] == ["queued", "scheduled", "queued"]
    stored = [app.get(t["task_id"]) for t in body["tasks"]]
    assert [t.name for t in stored] == ["a", "b", "c"]
    assert [t.queue for t in stored] == ["default", "other", "default"]
    assert stored[0].kwargs == {"n": 1}
    assert stored[2].priority is Priority.HIGH


def test_batch_with_one_invalid_item_stores_nothing(client: httpx.Client, app: Conveyor) -> None:
    items = [{"type": "a"}, {"type": "b", "priority": "urgent"}, {"type": "c"}]
    error = error_of(client.post(f"{API}/tasks/batch", json={"tasks": items}), 422)
    assert "tasks.1.priority" in error["message"]
    assert error["details"][0]["field"] == "tasks.1.priority"
    assert app.list_tasks().tasks == []


def test_batch_with_an_item_the_store_refuses_stores_nothing(
    client: httpx.Client, app: Conveyor
) -> None:
    # NaN passes the schema but is not JSON; the check happens below the HTTP layer.
    body = b'{"tasks": [{"type": "a"}, {"type": "b", "payload": {"x": NaN}}]}'
    error = error_of(client.post(f"{API}/tasks/batch", content=body), 422)
    assert error["code"] == "invalid_payload"
    assert app.list_tasks().tasks == []


def test_batch_repeats_an_existing_idempotency_key(client: httpx.Client, app: Conveyor) -> None:
    first = submit(client, "a", idempotency_key="k1")
    items = [{"type": "a", "idempotency_key": "k1"}, {"type": "b"}]
    body = client.post(f"{API}/tasks/batch", json={"tasks": items}).json()
    assert body["tasks"][0]["task_id"] == first["task_id"]
    assert len(app.list_tasks().tasks) == 2


@pytest.mark.parametrize("count", [0, 1001])
def test_batch_size_is_1_to_1000(client: httpx.Client, app: Conveyor, count: int) -> None:
    items = [{"type": "a"}] * count
    error = error_of(client.post(f"{API}/tasks/batch", json={"tasks": items}), 422)
    assert "tasks" in error["message"]
    assert app.list_tasks().tasks == []


def test_batch_of_1000_is_accepted(client: httpx.Client, app: Conveyor) -> None:
    items = [{"type": "a", "payload": {"i": i}} for i in range(1000)]
    response = client.post(f"{API}/tasks/batch", json={"tasks": items})
    assert response.status_code == 202, response.text
    tasks = response.json()["tasks"]
    assert len(tasks) == 1000
    assert app.get(tasks[999]["task_id"]).kwargs == {"i": 999}


# -- list -------------------------------------------------------------------------------


def all_pages(client: httpx.Client, limit: int, **filters: str) -> list[list[str]]:
    """Every page of GET /tasks with these filters, as lists of ids."""
    pages: list[list[str]] = []
    params: dict[str, str | int] = {"limit": limit, **filters}
    while True:
        response = client.get(f"{API}/tasks", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"tasks", "next_cursor"}
        pages.append([t["task_id"] for t in body["tasks"]])
        if body["next_cursor"] is None:
            return pages
        params["cursor"] = body["next_cursor"]
        assert len(pages) < 100, "the cursor never ran out"


def test_pages_cover_every_task_exactly_once_newest_first(client: httpx.Client) -> None:
    items = [{"type": "t", "payload": {"i": i}} for i in range(23)]
    created = client.post(f"{API}/tasks/batch", json={"tasks": items}).json()["tasks"]
    ids = [t["task_id"] for t in created]

    pages = all_pages(client, limit=5)
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    seen = [i for page in pages for i in page]
    assert seen == list(reversed(ids))


def test_an_exact_multiple_of_the_limit_ends_cleanly(client: httpx.Client) -> None:
    client.post(f"{API}/tasks/batch", json={"tasks": [{"type": "t"}] * 6})
    pages = all_pages(client, limit=3)
    assert sum(len(p) for p in pages) == 6
    assert len({i for p in pages for i in p}) == 6
    assert all(pages[:2])


def test_tasks_added_while_paging_do_not_shift_the_pages(client: httpx.Client) -> None:
    first = client.post(f"{API}/tasks/batch", json={"tasks": [{"type": "t"}] * 10}).json()
    ids = [t["task_id"] for t in first["tasks"]]

    page = client.get(f"{API}/tasks", params={"limit": 4}).json()
    seen = [t["task_id"] for t in page["tasks"]]
    # New tasks are newer than the cursor, so keyset pagination never shows them twice
    # nor pushes an older task onto a page already read.
    client.post(f"{API}/tasks/batch", json={"tasks": [{"type": "t"}] * 5})
    cursor = page["next_cursor"]
    while cursor is not None:
        page = client.get(f"{API}/tasks", params={"limit": 4, "cursor": cursor}).json()
        seen += [t["task_id"] for t in page["tasks"]]
        cursor = page["next_cursor"]
    assert seen == list(reversed(ids))


def test_list_filters_by_queue_status_and_type(client: httpx.Client) -> None:
    a1 = submit(client, "alpha", queue="q1")
    a2 = submit(client, "alpha", queue="q2")
    b1 = submit(client, "beta", queue="q1")
    later = submit(client, "beta", queue="q1", delay_seconds=600)
    cancelled = submit(client, "alpha", queue="q1")
    client.delete(f"{API}/tasks/{cancelled['task_id']}")

    def ids(**filters: str) -> set[str]:
        return {i for page in all_pages(client, limit=2, **filters) for i in page}

    assert ids(queue="q1") == {
        a1["task_id"],
        b1["task_id"],
        later["task_id"],
        cancelled["task_id"],
    }
    assert ids(type="alpha") == {a1["task_id"], a2["task_id"], cancelled["task_id"]}
    assert ids(status="cancelled") == {cancelled["task_id"]}
    assert ids(status="scheduled") == {later["task_id"]}
    assert ids(queue="q1", type="beta", status="queued") == {b1["task_id"]}
    assert ids(queue="nowhere") == set()


def test_list_items_have_the_task_shape(client: httpx.Client) -> None:
    submit(client, "x")
    [item] = client.get(f"{API}/tasks").json()["tasks"]
    assert set(item) >= TASK_FIELDS


def test_bad_list_parameters_are_422_naming_them(client: httpx.Client) -> None:
    cases: list[tuple[dict[str, str | int], str]] = [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "abc"}, "cursor"),
        ({"cursor": "9" * 30}, "cursor"),
        ({"status": "lost"}, "status"),
    ]
    for params, field in cases:
        error = error_of(client.get(f"{API}/tasks", params=params), 422)
        assert error["message"].startswith(f"query.{field}:"), (params, error["message"])


def test_the_store_is_untouched_by_reads(client: httpx.Client, app: Conveyor) -> None:
    submit(client, "x")
    before = snapshot(app)
    client.get(f"{API}/tasks")
    client.get(f"{API}/queues")
    assert snapshot(app) == before


def test_group_and_concurrency_key_are_stored(client: httpx.Client, app: Conveyor) -> None:
    accepted = submit(client, "sync", group="account:7", concurrency_key="tenant:3")
    task = app.get(accepted["task_id"])
    assert (task.group, task.concurrency_key) == ("account:7", "tenant:3")
    shown = client.get(f"{API}/tasks/{accepted['task_id']}").json()
    assert (shown["group"], shown["concurrency_key"]) == ("account:7", "tenant:3")
