"""Queues (counts, pause and resume) and their dead letters, over HTTP."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from conveyor import Conveyor
from conveyor.core.task import Status
from tests.api.conftest import API, LiveServer, error_of, lease, snapshot, submit
from tests.waiting import wait_until

QUEUE_FIELDS = {"name", "counts", "oldest_queued_age_seconds", "paused", "settings"}
STATES = {"waiting", "queued", "scheduled", "running", "completed", "failed", "cancelled"}


def dead_letter(client: httpx.Client, queue: str = "default", **fields: Any) -> str:
    """A task of `queue` that failed for good; its id."""
    accepted = submit(client, "doomed", queue=queue, **fields)
    [leased] = lease(client, queue)
    assert leased["task_id"] == accepted["task_id"]
    response = client.post(
        f"{API}/tasks/{leased['task_id']}/fail",
        json={"token": leased["token"], "error": "boom", "retry": False},
    )
    assert response.json()["status"] == "failed", response.text
    task_id: str = leased["task_id"]
    return task_id


# -- counts -----------------------------------------------------------------------------


def test_queues_lists_counts_by_state(client: httpx.Client) -> None:
    submit(client, "a", queue="mail")
    submit(client, "a", queue="mail")
    submit(client, "a", queue="mail", delay_seconds=600)
    submit(client, "b", queue="video")
    lease(client, "video")
    dead_letter(client, "video")

    response = client.get(f"{API}/queues")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"queues"}
    by_name = {q["name"]: q for q in body["queues"]}
    assert set(by_name) == {"mail", "video"}
    for queue in by_name.values():
        assert set(queue) >= QUEUE_FIELDS
        assert set(queue["counts"]) == STATES
        assert queue["paused"] is False
    assert by_name["mail"]["counts"] == {
        **dict.fromkeys(STATES, 0),
        "queued": 2,
        "scheduled": 1,
    }
    assert by_name["video"]["counts"] == {**dict.fromkeys(STATES, 0), "running": 1, "failed": 1}


def test_oldest_queued_age_grows_while_a_task_waits(client: httpx.Client) -> None:
    submit(client, "a", queue="mail")
    first = client.get(f"{API}/queues/mail").json()["oldest_queued_age_seconds"]
    assert isinstance(first, float)
    assert 0 <= first < 30
    wait_until(
        lambda: client.get(f"{API}/queues/mail").json()["oldest_queued_age_seconds"] > first,
        message="the oldest queued age to grow",
    )


def test_oldest_queued_age_is_null_when_nothing_waits(client: httpx.Client) -> None:
    submit(client, "a", queue="mail", delay_seconds=600)
    submit(client, "a", queue="mail")
    lease(client, "mail")
    assert client.get(f"{API}/queues/mail").json()["oldest_queued_age_seconds"] is None


def test_one_queue(client: httpx.Client) -> None:
    submit(client, "a", queue="mail")
    body = client.get(f"{API}/queues/mail").json()
    assert set(body) >= QUEUE_FIELDS
    assert body["name"] == "mail"
    assert body["counts"]["queued"] == 1
    assert body["paused"] is False


def test_a_queue_without_tasks_has_zero_counts(client: httpx.Client) -> None:
    body = client.get(f"{API}/queues/empty").json()
    assert body["counts"] == dict.fromkeys(STATES, 0)
    assert body["oldest_queued_age_seconds"] is None


# -- pause and resume -----------------------------------------------------------------


def test_pause_stops_leasing_and_resume_restores_it(client: httpx.Client, app: Conveyor) -> None:
    paused = client.post(f"{API}/queues/mail/pause")
    assert paused.status_code == 200, paused.text
    assert paused.json()["paused"] is True
    assert client.get(f"{API}/queues/mail").json()["paused"] is True

    accepted = submit(client, "a", queue="mail")  # a paused queue still accepts tasks
    submit(client, "b", queue="other")
    assert lease(client, "mail") == []
    assert [t["type"] for t in lease(client, "other")] == ["b"]  # other queues go on
    assert app.get(accepted["task_id"]).status is Status.QUEUED

    resumed = client.post(f"{API}/queues/mail/resume")
    assert resumed.status_code == 200
    assert resumed.json()["paused"] is False
    assert [t["task_id"] for t in lease(client, "mail")] == [accepted["task_id"]]


def test_paused_queues_are_listed_even_without_tasks(client: httpx.Client) -> None:
    client.post(f"{API}/queues/idle/pause")
    queues = client.get(f"{API}/queues").json()["queues"]
    assert [(q["name"], q["paused"]) for q in queues] == [("idle", True)]


def test_pause_and_resume_are_idempotent(client: httpx.Client) -> None:
    for _ in range(2):
        assert client.post(f"{API}/queues/mail/pause").json()["paused"] is True
    for _ in range(2):
        assert client.post(f"{API}/queues/mail/resume").json()["paused"] is False


def test_a_running_task_of_a_paused_queue_can_finish(client: httpx.Client) -> None:
    submit(client, "a", queue="mail")
    [leased] = lease(client, "mail")
    client.post(f"{API}/queues/mail/pause")
    done = client.post(f"{API}/tasks/{leased['task_id']}/complete", json={"token": leased["token"]})
    assert done.status_code == 200, done.text


def test_resume_wakes_a_waiting_lease(server: LiveServer, client: httpx.Client) -> None:
    client.post(f"{API}/queues/mail/pause")
    accepted = submit(client, "a", queue="mail")
    outcome: dict[str, Any] = {}

    def wait_for_lease() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as waiter:
            response = waiter.post(f"{API}/queues/mail/lease", json={"wait_seconds": 20})
        outcome["response"] = response
        outcome["at"] = time.monotonic()

    thread = threading.Thread(target=wait_for_lease)
    thread.start()
    wait_until(lambda: server.waiters("mail") > 0, message="the lease request to wait")
    resumed_at = time.monotonic()
    client.post(f"{API}/queues/mail/resume")
    thread.join(25)
    assert [t["task_id"] for t in outcome["response"].json()["tasks"]] == [accepted["task_id"]]
    assert outcome["at"] - resumed_at < 5


# -- dead letters -----------------------------------------------------------------------


def test_dead_letters_lists_the_failed_tasks_of_the_queue(client: httpx.Client) -> None:
    first = dead_letter(client, "mail")
    second = dead_letter(client, "mail")
    dead_letter(client, "video")
    submit(client, "fine", queue="mail")

    response = client.get(f"{API}/queues/mail/dead-letters")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"tasks", "next_cursor"}
    assert [t["task_id"] for t in body["tasks"]] == [second, first]
    assert all(t["status"] == "failed" for t in body["tasks"])
    assert body["tasks"][0]["errors"][0]["error"] == "boom"


def test_dead_letters_are_paged(client: httpx.Client) -> None:
    ids = [dead_letter(client) for _ in range(3)]
    page = client.get(f"{API}/queues/default/dead-letters", params={"limit": 2}).json()
    rest = client.get(
        f"{API}/queues/default/dead-letters", params={"limit": 2, "cursor": page["next_cursor"]}
    ).json()
    assert [t["task_id"] for t in page["tasks"] + rest["tasks"]] == ids[::-1]
    assert rest["next_cursor"] is None


def test_replay_by_id_requeues_with_fresh_attempts(client: httpx.Client, app: Conveyor) -> None:
    task_id = dead_letter(client)
    other = dead_letter(client)
    response = client.post(
        f"{API}/queues/default/dead-letters/replay", json={"task_ids": [task_id]}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"task_ids": [task_id]}
    replayed = app.get(task_id)
    assert replayed.status is Status.QUEUED
    assert replayed.attempts == 0
    assert app.get(other).status is Status.FAILED
    assert [t["task_id"] for t in lease(client)] == [task_id]


def test_replay_all_requeues_only_that_queue(client: httpx.Client, app: Conveyor) -> None:
    mail = [dead_letter(client, "mail") for _ in range(2)]
    video = dead_letter(client, "video")
    response = client.post(f"{API}/queues/mail/dead-letters/replay", json={"all": True})
    assert sorted(response.json()["task_ids"]) == sorted(mail)
    assert all(app.get(i).status is Status.QUEUED for i in mail)
    assert app.get(video).status is Status.FAILED
    assert client.get(f"{API}/queues/mail/dead-letters").json()["tasks"] == []


def test_replay_of_ids_that_are_not_dead_letters_is_404(
    client: httpx.Client, app: Conveyor
) -> None:
    queued = submit(client, "fine")["task_id"]
    elsewhere = dead_letter(client, "video")
    before = snapshot(app)
    response = client.post(
        f"{API}/queues/default/dead-letters/replay",
        json={"task_ids": [queued, elsewhere, "no-such-task"]},
    )
    error = error_of(response, 404)
    assert error["details"]["missing"] == sorted([queued, elsewhere, "no-such-task"])
    assert snapshot(app) == before


def test_replay_of_some_dead_letters_and_some_not_is_409_naming_both(
    client: httpx.Client, app: Conveyor
) -> None:
    dead = dead_letter(client)
    error = error_of(
        client.post(
            f"{API}/queues/default/dead-letters/replay", json={"task_ids": [dead, "no-such-task"]}
        ),
        409,
    )
    assert error["details"] == {"replayed": [dead], "missing": ["no-such-task"]}
    # The dead letters that could be replayed were: the details say which.
    assert app.get(dead).status is Status.QUEUED


def test_discard_by_id_deletes_only_those(client: httpx.Client, app: Conveyor) -> None:
    gone = dead_letter(client)
    kept = dead_letter(client)
    response = client.post(f"{API}/queues/default/dead-letters/discard", json={"task_ids": [gone]})
    assert response.status_code == 200, response.text
    assert response.json() == {"discarded": 1}
    error_of(client.get(f"{API}/tasks/{gone}"), 404)
    assert app.get(kept).status is Status.FAILED


def test_discard_all_deletes_the_dead_letters_of_that_queue_only(
    client: httpx.Client, app: Conveyor
) -> None:
    for _ in range(3):
        dead_letter(client, "mail")
    video = dead_letter(client, "video")
    fine = submit(client, "fine", queue="mail")["task_id"]
    response = client.post(f"{API}/queues/mail/dead-letters/discard", json={"all": True})
    assert response.json() == {"discarded": 3}
    assert client.get(f"{API}/queues/mail/dead-letters").json()["tasks"] == []
    assert app.get(video).status is Status.FAILED
    assert app.get(fine).status is Status.QUEUED


def test_discard_never_touches_tasks_that_are_not_dead_letters(
    client: httpx.Client, app: Conveyor
) -> None:
    queued = submit(client, "fine")["task_id"]
    before = snapshot(app)
    response = client.post(
        f"{API}/queues/default/dead-letters/discard", json={"task_ids": [queued]}
    )
    assert response.json() == {"discarded": 0}
    assert snapshot(app) == before


def test_replay_and_discard_need_ids_or_all(client: httpx.Client, app: Conveyor) -> None:
    dead_letter(client)
    before = snapshot(app)
    for action in ("replay", "discard"):
        for body in [
            {},
            {"all": False},
            {"task_ids": ["x"], "all": True},
            {"task_ids": "x"},
            {"ids": ["x"]},
            {"task_ids": ["x"] * 1001},
        ]:
            response = client.post(f"{API}/queues/default/dead-letters/{action}", json=body)
            error_of(response, 422)
    assert snapshot(app) == before
