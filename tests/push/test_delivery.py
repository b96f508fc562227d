"""Push delivery end to end: a real dispatcher POSTs to a real receiver on loopback, on
both backends; assertions are on what the receiver saw and what the store holds."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from conveyor import Conveyor, Status, verify_signature
from conveyor.core.task import Task
from conveyor.scheduler.duties import Reaper
from tests.push.conftest import RunningDispatcher
from tests.push.receiver import Arrival, Receiver, Reply
from tests.waiting import wait_until

StartReceiver = Callable[..., Receiver]
StartDispatcher = Callable[..., RunningDispatcher]


def finished(app: Conveyor, task_id: str) -> Callable[[], Task | None]:
    def check() -> Task | None:
        task = app.get(task_id)
        return task if task.status.finished else None

    return check


def test_a_push_carries_the_kwargs_signed_with_the_task_headers(
    app: Conveyor, receiver: StartReceiver, dispatch: StartDispatcher
) -> None:
    hook = receiver(lambda a, n: Reply(200, b'{"ok": true}', {"content-type": "application/json"}))
    app.queue("hooks", target=f"{hook.url}/tasks/{{type}}", secret="s3cret")
    handle = app.enqueue("notify", queue="hooks", kwargs={"to": "ada", "n": 1})
    dispatch()

    task = wait_until(finished(app, handle.id), timeout=20)

    assert task.status is Status.COMPLETED
    assert task.result == {"ok": True}
    [arrival] = hook.at("/tasks/notify")
    assert arrival.method == "POST"
    assert json.loads(arrival.body) == {"to": "ada", "n": 1}
    assert arrival.headers["content-type"] == "application/json"
    assert arrival.headers["conveyor-task-id"] == handle.id
    assert arrival.headers["conveyor-task-type"] == "notify"
    assert arrival.headers["conveyor-queue"] == "hooks"
    assert arrival.headers["conveyor-attempt"] == "1"
    assert arrival.headers["conveyor-scheduled-at"] == task.run_at.isoformat()
    assert verify_signature("s3cret", arrival.headers["conveyor-signature"], arrival.body)
    assert not verify_signature("wrong", arrival.headers["conveyor-signature"], arrival.body)


def test_a_handler_failing_twice_completes_on_attempt_three_with_two_errors(
    app: Conveyor, receiver: StartReceiver, dispatch: StartDispatcher
) -> None:
    def flaky(arrival: Arrival, before: int) -> Reply:
        return Reply(500, b"database is down") if before < 2 else Reply(204)

    hook = receiver(flaky)
    app.queue("hooks", target=hook.url + "/", min_backoff=0, max_attempts=5)
    handle = app.enqueue("notify", queue="hooks", kwargs={})
    dispatch()

    task = wait_until(finished(app, handle.id), timeout=20)

    assert task.status is Status.COMPLETED
    assert task.attempts == 3
    assert [e["attempt"] for e in task.errors] == [1, 2]
    assert all("HTTP 500" in e["error"] and "database is down" in e["error"] for e in task.errors)
    assert [a.headers["conveyor-attempt"] for a in hook.at("/")] == ["1", "2", "3"]


def test_a_handler_slower_than_the_deadline_is_retried_then_dead_lettered(
    app: Conveyor, receiver: StartReceiver, dispatch: StartDispatcher
) -> None:
    hook = receiver(lambda a, n: Reply(200, delay=3.0))
    target = {"url": hook.url + "/slow", "deadline": 0.5}
    app.queue("hooks", target=target, max_attempts=2, min_backoff=0)
    handle = app.enqueue("slow", queue="hooks", kwargs={})
    dispatch()

    task = wait_until(finished(app, handle.id), timeout=20)

    assert task.status is Status.FAILED
    assert task.attempts == 2
    assert len(hook.at("/slow")) == 2
    assert all("deadline of 0.5s" in e["error"] for e in task.errors)


def test_retry_after_on_429_delays_the_next_attempt_at_least_that_long(
    app: Conveyor, receiver: StartReceiver, dispatch: StartDispatcher
) -> None:
    def busy(arrival: Arrival, before: int) -> Reply:
        return Reply(429, b"slow down", {"Retry-After": "2"}) if before == 0 else Reply(200)

    hook = receiver(busy)
    app.queue("hooks", target=hook.url + "/busy", min_backoff=0, max_attempts=3)
    handle = app.enqueue("busy", queue="hooks", kwargs={})
    dispatch()

    task = wait_until(finished(app, handle.id), timeout=20)

    assert task.status is Status.COMPLETED
    first, second = hook.at("/busy")
    assert "HTTP 429" in task.errors[0]["error"]
    # Both on the store host's wall clock, which claims go by (a due task is never
    # claimed before its run_at): the receiver's monotonic clock can fall behind it when
    # the host is paused and its wall clock stepped on resume.
    failed_at = datetime.fromisoformat(task.errors[0]["at"])
    scheduled_at = datetime.fromisoformat(second.headers["conveyor-scheduled-at"])
    assert (scheduled_at - failed_at).total_seconds() >= 2.0
    assert first.headers["conveyor-attempt"] == "1" and second.headers["conveyor-attempt"] == "2"


def test_a_redirect_is_a_failed_attempt_and_is_not_followed(
    app: Conveyor, receiver: StartReceiver, dispatch: StartDispatcher
) -> None:
    hook = receiver(
        lambda a, n: Reply(302, headers={"Location": "/elsewhere"}) if a.path == "/r" else Reply()
    )
    app.queue("hooks", target=hook.url + "/r", max_attempts=1)
    handle = app.enqueue("moved", queue="hooks", kwargs={})
    dispatch()

    task = wait_until(finished(app, handle.id), timeout=20)

    assert task.status is Status.FAILED
    assert "HTTP 302" in task.errors[0]["error"]
    assert "/elsewhere" in task.errors[0]["error"]
    assert hook.at("/elsewhere") == []


def test_a_connection_error_is_a_failed_attempt(
    app: Conveyor, receiver: StartReceiver, dispatch: StartDispatcher
) -> None:
    hook = receiver()
    closed = hook.url
    hook.stop()
    app.queue("hooks", target=closed + "/gone", max_attempts=1)
    handle = app.enqueue("gone", queue="hooks", kwargs={})
    dispatch()

    task = wait_until(finished(app, handle.id), timeout=20)

    assert task.status is Status.FAILED
    assert "connection error" in task.errors[0]["error"]


def test_a_rotated_secret_signs_with_both_so_either_receiver_verifies(
    app: Conveyor, receiver: StartReceiver, dispatch: StartDispatcher
) -> None:
    hook = receiver()
    app.queue("hooks", target=hook.url + "/", secret="old")
    app.rotate_secret("hooks", "new")
    handle = app.enqueue("notify", queue="hooks", kwargs={"x": 1})
    dispatch()

    wait_until(finished(app, handle.id), timeout=20)

    [arrival] = hook.at("/")
    header = arrival.headers["conveyor-signature"]
    assert header.count("v1=") == 2
    assert verify_signature("old", header, arrival.body)
    assert verify_signature("new", header, arrival.body)


def test_a_target_configured_while_running_is_picked_up(
    app: Conveyor, receiver: StartReceiver, dispatch: StartDispatcher
) -> None:
    hook = receiver()
    dispatch(refresh_seconds=0.2)
    handle = app.enqueue("late", queue="later", kwargs={})
    app.queue("later", target=hook.url + "/late")

    task = wait_until(finished(app, handle.id), timeout=20)

    assert task.status is Status.COMPLETED
    assert len(hook.at("/late")) == 1


def test_heartbeats_hold_the_lease_while_a_handler_outlasts_it(
    app: Conveyor, receiver: StartReceiver, dispatch: StartDispatcher
) -> None:
    # The lease (1 s) is far shorter than the handler (2.5 s) and the deadline (10 s):
    # without heartbeats the reaper would requeue the task and it would arrive twice.
    hook = receiver(lambda a, n: Reply(204, delay=2.5))
    app.queue("hooks", target={"url": hook.url + "/long", "deadline": 10})
    handle = app.enqueue("long", queue="hooks", kwargs={})
    dispatch(lease_seconds=1.0, duties=[Reaper(interval=0.1)])

    task = wait_until(finished(app, handle.id), timeout=20)

    assert task.status is Status.COMPLETED
    assert task.attempts == 1
    assert len(hook.at("/long")) == 1
