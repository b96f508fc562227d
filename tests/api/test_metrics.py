"""`GET /metrics` from a real server: the figures match the store, on both backends."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from conveyor import Conveyor
from conveyor.api.app import create_api
from conveyor.api.auth import Tokens
from conveyor.core.task import AttemptError, Completion, Failure
from conveyor.core.workers import NewWorker
from tests.api.conftest import READER, TOKENS, WORKER, LiveServer, StartServer
from tests.factories import later
from tests.waiting import wait_until

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: httpx.Client) -> Samples:
    response = client.get("/metrics")
    return checked(response)


def checked(response: httpx.Response) -> Samples:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def parse(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def error() -> AttemptError:
    return AttemptError(attempt=1, error="boom", worker_id="w")


def busy_store(app: Conveyor) -> None:
    """Two queues with tasks in every outcome, a throttled queue and three workers."""
    store = app.store
    now = later()
    app.enqueue_many([{"name": "job", "queue": "default"} for _ in range(6)])
    app.enqueue_many([{"name": "job", "queue": "emails"} for _ in range(2)])
    claimed = store.claim(["default"], 4, "w", 30.0, now=now)
    store.complete([Completion(claimed[0].lease, None)], now=now + 0.3)
    store.complete([Completion(claimed[1].lease, None)], now=now + 2.0)
    store.fail([Failure(claimed[2].lease, error(), retry_delay=None)], now=now + 0.1)
    store.fail([Failure(claimed[3].lease, error(), retry_delay=3600.0)], now=now + 0.1)
    app.queue("emails", max_concurrent=1)
    assert len(store.claim(["emails"], 2, "w", 30.0)) == 1  # one held back: throttled
    for worker_id, queues in (("a", ("default",)), ("b", ("default", "emails")), ("c", ())):
        store.register_worker(NewWorker(worker_id, "host", 1, queues, 2, 5.0))
    store.deregister_worker("c")


def test_metrics_match_the_store(app: Conveyor, server: LiveServer) -> None:
    busy_store(app)

    samples = scrape(server.client())

    assert value(samples, "conveyor_up") == 1
    for queue in app.queues():
        for state, count in queue.counts.items():
            assert value(samples, "conveyor_tasks", queue=queue.name, state=state) == count
        depth = value(samples, "conveyor_queue_depth", queue=queue.name)
        assert depth == queue.counts["queued"]
        age = value(samples, "conveyor_queue_oldest_queued_age_seconds", queue=queue.name)
        assert age >= 0
    assert value(samples, "conveyor_queue_depth", queue="default") == 2
    for total in app.totals():
        q = total.queue
        assert value(samples, "conveyor_tasks_enqueued_total", queue=q) == total.enqueued
        assert value(samples, "conveyor_tasks_completed_total", queue=q) == total.completed
        assert value(samples, "conveyor_tasks_failed_total", queue=q) == total.failed
        assert value(samples, "conveyor_tasks_retried_total", queue=q) == total.retried
    assert value(samples, "conveyor_tasks_enqueued_total", queue="default") == 6
    assert value(samples, "conveyor_tasks_completed_total", queue="default") == 2
    assert value(samples, "conveyor_tasks_failed_total", queue="default") == 1
    assert value(samples, "conveyor_tasks_retried_total", queue="default") == 1
    assert value(samples, "conveyor_claims_throttled_total", queue="emails") == 1
    assert value(samples, "conveyor_claims_throttled_total", queue="default") == 0
    assert value(samples, "conveyor_queue_paused", queue="emails") == 0
    assert value(samples, "conveyor_workers", state="alive") == 2
    assert value(samples, "conveyor_workers", state="stopped") == 1
    assert value(samples, "conveyor_workers", state="dead") == 0
    assert value(samples, "conveyor_queue_workers", queue="default") == 2
    assert value(samples, "conveyor_queue_workers", queue="emails") == 1


def test_processing_times_are_a_histogram_of_recent_tasks(
    app: Conveyor, server: LiveServer
) -> None:
    busy_store(app)

    samples = scrape(server.client())

    def bucket(le: str, status: str = "completed") -> float:
        return value(
            samples,
            "conveyor_task_processing_seconds_bucket",
            queue="default",
            status=status,
            le=le,
        )

    assert bucket("0.25") == 0
    assert bucket("0.5") == 1
    assert bucket("2.5") == 2
    assert bucket("+Inf") == 2
    assert bucket("0.25", status="failed") == 1
    completed = {"queue": "default", "status": "completed"}
    assert value(samples, "conveyor_task_processing_seconds_gcount", **completed) == 2
    total = value(samples, "conveyor_task_processing_seconds_gsum", **completed)
    assert abs(total - 2.3) < 0.01


def test_counters_survive_pruning_and_follow_new_work(app: Conveyor, server: LiveServer) -> None:
    busy_store(app)
    client = server.client()
    before = scrape(client)

    assert app.store.prune(completed_seconds=0, failed_seconds=0, now=later(10)) == 3
    app.enqueue_many([{"name": "job", "queue": "default"}])

    after = wait_until(
        lambda: (
            (s := scrape(client))
            and value(s, "conveyor_tasks_enqueued_total", queue="default") == 7
            and s
        ),
        message="the next scrape to count the new task",
    )
    for name in ("completed", "failed", "retried"):
        metric = f"conveyor_tasks_{name}_total"
        assert value(after, metric, queue="default") == value(before, metric, queue="default")
    assert value(after, "conveyor_tasks", queue="default", state="completed") == 0


def test_metrics_need_the_read_scope_when_tokens_are_configured(
    start_server: StartServer,
) -> None:
    server = start_server(tokens=TOKENS)

    assert server.client().get("/metrics").status_code == 401
    assert server.client(WORKER).get("/metrics").status_code == 403
    assert value(scrape(server.client(READER)), "conveyor_up") == 1


def get(api: FastAPI, path: str) -> httpx.Response:
    """One request to `api` in process; /metrics needs nothing the lifespan starts."""

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://conveyor") as client:
            return await client.get(path)

    return asyncio.run(call())


def test_metrics_can_be_public_with_tokens_configured(app: Conveyor) -> None:
    api = create_api(app, Tokens.parse(TOKENS), metrics_public=True)

    assert value(checked(get(api, "/metrics")), "conveyor_up") == 1
    assert get(api, "/api/v1/queues").status_code == 401


def test_a_scrape_answers_while_the_store_is_away(tmp_path: Path) -> None:
    app = Conveyor(f"sqlite:///{tmp_path}/missing/conveyor.db")

    samples = checked(get(create_api(app), "/metrics"))

    assert samples == {("conveyor_up", ()): 0.0}
    app.close()
