"""The pull protocol: lease, heartbeat, complete and fail, with fencing tokens."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

import httpx
import pytest

from conveyor import Conveyor
from conveyor.core.task import Status
from tests.api.conftest import API, LiveServer, error_of, lease, snapshot, submit
from tests.waiting import wait_until

LEASED_FIELDS = {"task_id", "type", "payload", "token", "attempt"}
ACTIONS = ["heartbeat", "complete", "fail"]


def report(
    client: httpx.Client, action: str, task_id: str, token: str, **fields: Any
) -> httpx.Response:
    body: dict[str, Any] = {"token": token, **fields}
    if action == "fail":
        body.setdefault("error", "it broke")
    return client.post(f"{API}/tasks/{task_id}/{action}", json=body)


def steal(app: Conveyor, task_id: str, queue: str = "default") -> int:
    """Let the lease on `task_id` expire and another worker take the task; its token."""
    later = time.time() + 3600
    assert app.store.reap_expired(now=later) == 1
    [claimed] = app.store.claim([queue], 1, "thief", 30, now=later)
    assert claimed.task.id == task_id
    return claimed.lease.token


# -- lease ------------------------------------------------------------------------------


def test_lease_hands_out_a_task_with_its_token(client: httpx.Client, app: Conveyor) -> None:
    accepted = submit(client, "resize", payload={"w": 10}, queue="images")
    response = client.post(
        f"{API}/queues/images/lease",
        json={"max": 1, "lease_seconds": 60, "wait_seconds": 0, "worker_id": "go-worker-7"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"tasks"}
    [leased] = body["tasks"]
    assert set(leased) >= LEASED_FIELDS
    assert leased["task_id"] == accepted["task_id"]
    assert leased["type"] == "resize"
    assert leased["payload"] == {"w": 10}
    assert leased["attempt"] == 1
    assert leased["token"].isdigit()

    stored = app.get(accepted["task_id"])
    assert stored.status is Status.RUNNING
    assert stored.worker_id == "go-worker-7"
    assert stored.lease_expires_at is not None
    expires = datetime.fromisoformat(leased["lease_expires_at"])
    assert expires == stored.lease_expires_at
    assert 50 < (expires - stored.started_at).total_seconds() <= 60  # type: ignore[operator]
    assert client.get(f"{API}/tasks/{accepted['task_id']}").json()["status"] == "running"


def test_lease_takes_at_most_max_in_priority_order(client: httpx.Client) -> None:
    low = submit(client, "t", priority="low")
    normal = submit(client, "t")
    high = submit(client, "t", priority="high")
    first = lease(client, max=2)
    assert [t["task_id"] for t in first] == [high["task_id"], normal["task_id"]]
    assert [t["task_id"] for t in lease(client, max=2)] == [low["task_id"]]
    assert lease(client, max=2) == []


def test_lease_only_takes_from_its_queue(client: httpx.Client) -> None:
    submit(client, "t", queue="a")
    assert lease(client, "b") == []
    assert len(lease(client, "a")) == 1


def test_each_task_goes_to_one_lease(server: LiveServer, client: httpx.Client) -> None:
    client.post(f"{API}/tasks/batch", json={"tasks": [{"type": "t"}] * 20})
    got: list[str] = []
    lock = threading.Lock()

    def take() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as own:
            while tasks := lease(own, max=3):
                with lock:
                    got.extend(t["task_id"] for t in tasks)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(got) == 20
    assert len(set(got)) == 20


# -- long polling -----------------------------------------------------------------------


def test_a_waiting_lease_returns_promptly_when_a_task_arrives(
    server: LiveServer, client: httpx.Client
) -> None:
    outcome: dict[str, Any] = {}

    def wait_for_lease() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as waiter:
            started = time.monotonic()
            response = waiter.post(f"{API}/queues/mail/lease", json={"wait_seconds": 20})
            outcome["response"], outcome["done"] = response, time.monotonic()
            outcome["waited"] = outcome["done"] - started

    thread = threading.Thread(target=wait_for_lease)
    thread.start()
    wait_until(lambda: server.waiters("mail") > 0, message="the lease request to wait")
    enqueued_at = time.monotonic()
    accepted = submit(client, "hello", queue="mail")
    thread.join(30)
    assert not thread.is_alive()

    tasks = outcome["response"].json()["tasks"]
    assert [t["task_id"] for t in tasks] == [accepted["task_id"]]
    assert outcome["done"] - enqueued_at < 5, "the lease did not wake up on new work"
    assert outcome["waited"] < 10


def test_a_waiting_lease_returns_nothing_after_wait_seconds(client: httpx.Client) -> None:
    started = time.monotonic()
    response = client.post(f"{API}/queues/mail/lease", json={"wait_seconds": 1.5})
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.json() == {"tasks": []}
    assert 1.4 <= elapsed < 10


def test_a_waiting_lease_ignores_other_queues(client: httpx.Client) -> None:
    submit(client, "t", queue="other")
    started = time.monotonic()
    response = client.post(f"{API}/queues/mail/lease", json={"wait_seconds": 1})
    assert response.json() == {"tasks": []}
    assert time.monotonic() - started >= 0.9


def test_a_waiting_lease_on_a_paused_queue_returns_nothing(client: httpx.Client) -> None:
    submit(client, "t", queue="mail")
    client.post(f"{API}/queues/mail/pause")
    response = client.post(f"{API}/queues/mail/lease", json={"wait_seconds": 1})
    assert response.json() == {"tasks": []}


def test_without_wait_seconds_an_empty_queue_answers_at_once(client: httpx.Client) -> None:
    started = time.monotonic()
    response = client.post(f"{API}/queues/mail/lease", json={})
    assert response.json() == {"tasks": []}
    assert time.monotonic() - started < 5


BAD_LEASES: list[tuple[dict[str, Any], str]] = [
    ({"max": 0}, "max"),
    ({"max": 101}, "max"),
    ({"lease_seconds": 0.5}, "lease_seconds"),
    ({"wait_seconds": 31}, "wait_seconds"),
    ({"wait_seconds": -1}, "wait_seconds"),
    ({"worker_id": ""}, "worker_id"),
    ({"workers": 2}, "workers"),
]


def test_bad_lease_requests_are_422_and_take_nothing(client: httpx.Client, app: Conveyor) -> None:
    submit(client, "t")
    before = snapshot(app)
    for body, field in BAD_LEASES:
        error = error_of(client.post(f"{API}/queues/default/lease", json=body), 422)
        assert error["message"].startswith(f"{field}:"), (body, error)
    assert snapshot(app) == before


# -- heartbeat, complete, fail ----------------------------------------------------------


def test_heartbeat_extends_the_lease(client: httpx.Client, app: Conveyor) -> None:
    submit(client, "t")
    [leased] = lease(client, lease_seconds=5)
    before = app.get(leased["task_id"]).lease_expires_at
    response = report(client, "heartbeat", leased["task_id"], leased["token"], lease_seconds=600)
    assert response.status_code == 200, response.text
    assert response.json() == {"task_id": leased["task_id"], "status": "running"}
    after = app.get(leased["task_id"]).lease_expires_at
    assert before is not None
    assert after is not None
    assert (after - before).total_seconds() > 500


def test_complete_stores_the_result(client: httpx.Client) -> None:
    submit(client, "t")
    [leased] = lease(client)
    result = {"rows": [1, 2, 3], "ok": True, "note": "ünïcode"}
    response = report(client, "complete", leased["task_id"], leased["token"], result=result)
    assert response.status_code == 200, response.text
    assert response.json() == {"task_id": leased["task_id"], "status": "completed"}
    body = client.get(f"{API}/tasks/{leased['task_id']}").json()
    assert body["status"] == "completed"
    assert body["result"] == result
    assert body["attempts"] == 1
    assert body["started_at"] is not None
    assert body["finished_at"] is not None


def test_complete_twice_is_409(client: httpx.Client) -> None:
    submit(client, "t")
    [leased] = lease(client)
    report(client, "complete", leased["task_id"], leased["token"])
    error = error_of(report(client, "complete", leased["task_id"], leased["token"]), 409)
    assert error["details"] == {"status": "completed"}


def test_fail_with_retry_puts_the_task_back(client: httpx.Client, app: Conveyor) -> None:
    submit(client, "t")
    [leased] = lease(client)
    response = report(
        client, "fail", leased["task_id"], leased["token"], error="timeout", traceback="tb..."
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["task_id"] == leased["task_id"]
    assert body["status"] in {"queued", "scheduled"}  # the backoff decides which
    task = client.get(f"{API}/tasks/{leased['task_id']}").json()
    assert task["status"] in {"queued", "scheduled"}
    assert task["attempts"] == 1
    [entry] = task["errors"]
    assert entry["error"] == "timeout"
    assert entry["traceback"] == "tb..."
    assert entry["attempt"] == 1
    stored = app.get(leased["task_id"])
    assert stored.status in {Status.QUEUED, Status.SCHEDULED}


def test_fail_without_retry_is_a_dead_letter(client: httpx.Client, app: Conveyor) -> None:
    submit(client, "t", queue="mail")
    [leased] = lease(client, "mail")
    response = report(client, "fail", leased["task_id"], leased["token"], retry=False)
    assert response.json() == {"task_id": leased["task_id"], "status": "failed"}
    assert app.get(leased["task_id"]).status is Status.FAILED
    dead = client.get(f"{API}/queues/mail/dead-letters").json()["tasks"]
    assert [t["task_id"] for t in dead] == [leased["task_id"]]


def test_fail_on_the_last_attempt_is_a_dead_letter(client: httpx.Client) -> None:
    submit(client, "t", max_attempts=1)
    [leased] = lease(client)
    response = report(client, "fail", leased["task_id"], leased["token"], retry=True)
    assert response.json()["status"] == "failed"
    dead = client.get(f"{API}/queues/default/dead-letters").json()["tasks"]
    assert [t["task_id"] for t in dead] == [leased["task_id"]]


def test_a_retried_task_is_leased_again_with_the_next_attempt(
    client: httpx.Client, app: Conveyor
) -> None:
    submit(client, "t")
    [first] = lease(client)
    report(client, "fail", first["task_id"], first["token"])
    wait_until(
        lambda: app.get(first["task_id"]).status is Status.QUEUED,
        message="the retry backoff to pass",
    )
    [second] = lease(client)
    assert second["task_id"] == first["task_id"]
    assert second["attempt"] == 2
    assert int(second["token"]) > int(first["token"])


# -- fencing ----------------------------------------------------------------------------


@pytest.mark.parametrize("action", ACTIONS)
def test_a_stale_token_is_409_and_changes_nothing(
    client: httpx.Client, app: Conveyor, action: str
) -> None:
    submit(client, "t")
    [leased] = lease(client, lease_seconds=1)
    new_token = steal(app, leased["task_id"])
    before = snapshot(app)

    error = error_of(report(client, action, leased["task_id"], leased["token"]), 409)
    assert error["code"] == "stale_lease"
    assert error["details"] == {"status": "running"}
    assert snapshot(app) == before

    # The worker that holds the lease now is not disturbed.
    done = report(client, "complete", leased["task_id"], str(new_token), result="mine")
    assert done.status_code == 200, done.text
    assert app.get(leased["task_id"]).result == "mine"


def test_an_expired_lease_taken_over_http_fences_the_first_worker(
    client: httpx.Client, app: Conveyor
) -> None:
    submit(client, "t")
    [first] = lease(client, lease_seconds=1)
    expiry = app.get(first["task_id"]).lease_expires_at
    assert expiry is not None
    wait_until(lambda: time.time() > expiry.timestamp(), message="the lease to expire")
    # No worker runs in this test, so nobody reaps; do what a worker's reaper would.
    assert app.store.reap_expired() == 1
    [second] = lease(client)
    assert second["task_id"] == first["task_id"]
    assert second["attempt"] == 2

    for action in ACTIONS:
        response = report(client, action, first["task_id"], first["token"])
        assert response.status_code == 409, (action, response.text)
    assert report(client, "complete", second["task_id"], second["token"]).status_code == 200


@pytest.mark.parametrize("action", ACTIONS)
def test_a_token_never_handed_out_is_409(client: httpx.Client, app: Conveyor, action: str) -> None:
    submit(client, "t")
    [leased] = lease(client)
    before = snapshot(app)
    forged = str(int(leased["token"]) + 1)
    error_of(report(client, action, leased["task_id"], forged), 409)
    assert snapshot(app) == before


@pytest.mark.parametrize("action", ACTIONS)
def test_reports_on_an_unknown_task_are_404(client: httpx.Client, action: str) -> None:
    error_of(report(client, action, "no-such-task", "1"), 404)


def test_malformed_tokens_are_422(client: httpx.Client, app: Conveyor) -> None:
    submit(client, "t")
    [leased] = lease(client)
    before = snapshot(app)
    for action in ACTIONS:
        for token in ["", "abc", "-1", "1.5", "9" * 19, 7, None]:
            response = report(client, action, leased["task_id"], token)  # type: ignore[arg-type]
            error = error_of(response, 422)
            assert "token" in error["message"], (action, token, error)
    assert snapshot(app) == before


def test_fail_needs_an_error_message(client: httpx.Client, app: Conveyor) -> None:
    submit(client, "t")
    [leased] = lease(client)
    response = client.post(f"{API}/tasks/{leased['task_id']}/fail", json={"token": leased["token"]})
    assert "error" in error_of(response, 422)["message"]
    assert app.get(leased["task_id"]).status is Status.RUNNING
