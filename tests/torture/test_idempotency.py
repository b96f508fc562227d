"""Concurrent identical submits under one idempotency key, from several processes
through the library and over HTTP to two `conveyor server` processes: exactly one task.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conveyor import Conveyor
from tests.api.conftest import API
from tests.crash.conftest import ROOT
from tests.torture import sizes
from tests.torture.conftest import Record
from tests.torture.processes import ServerProcess
from tests.torture.results import Result


@pytest.fixture
def servers(store_url: str, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    started = [ServerProcess(store_url, tmp_path / f"server-{i}.log") for i in range(2)]
    yield started
    for server in started:
        server.kill()


def race(
    store_url: str,
    servers: list[ServerProcess],
    key: str,
    total: int,
    processes: int,
    gate: Path,
) -> list[str]:
    """`total` submits of one key, half over HTTP and half from `processes` processes."""
    over_http = total // 2
    per_process = max(1, (total - over_http) // processes)
    submitters = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.torture.submitter",
                store_url,
                key,
                str(gate),
                str(per_process),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    go = threading.Event()
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def post(server: ServerProcess) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            client.get("/healthz")  # connected before the race starts
            go.wait(30)
            response = client.post(
                f"{API}/tasks", json={"type": "run", "args": [key], "idempotency_key": key}
            )
            with lock:
                answers.append(response)

    threads = [
        threading.Thread(target=post, args=(servers[i % len(servers)],)) for i in range(over_http)
    ]
    for thread in threads:
        thread.start()
    gate.touch()
    go.set()
    for thread in threads:
        thread.join(60)
    ids = []
    for submitter in submitters:
        out, _ = submitter.communicate(timeout=60)
        assert submitter.returncode == 0
        ids += out.split()
    for response in answers:
        assert response.status_code == 202, response.text
        ids.append(response.json()["task_id"])
    assert len(ids) == over_http + per_process * processes
    return ids


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_concurrent_submits_of_one_key_make_one_task(
    app: Conveyor,
    store_url: str,
    servers: list[ServerProcess],
    tmp_path: Path,
    size: sizes.Sizes,
    record: Record,
    backend: str,
) -> None:
    for server in servers:
        server.wait_until_serving()
    extra: list[str] = []  # tasks beyond the first of a key
    misanswered = 0  # callers told of a task other than the one stored
    for n in range(size.submit_rounds):
        key = f"order-{n}"
        ids = race(
            store_url, servers, key, size.submits, size.submit_processes, tmp_path / f"go-{n}"
        )
        stored = [t for t in app.list_tasks(limit=1000).tasks if t.idempotency_key == key]
        extra += [t.id for t in stored[1:]]
        misanswered += sum(1 for i in ids if stored and i != stored[0].id)
    record(
        Result(
            scenario="concurrent submits, one idempotency key",
            backend=backend,
            load=f"{size.submit_rounds} keys x {size.submits} submits",
            faults=f"{size.submit_processes} processes + HTTP to 2 servers",
            duplicates=len(extra),
        )
    )
    assert extra == [], f"{len(extra)} extra task(s) created for one key"
    assert misanswered == 0, f"{misanswered} submit(s) answered with another task"
    assert len(app.list_tasks(limit=1000).tasks) == size.submit_rounds
