"""The dispatcher as real processes: inside `conveyor server` and `conveyor dev`, and on
its own as `conveyor dispatcher`; SIGTERM lets a request in flight finish."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from conveyor import Conveyor, Status
from conveyor.core.task import Task
from tests.api.conftest import API, free_port
from tests.push.receiver import Receiver, Reply
from tests.waiting import wait_until

CONVEYOR = str(Path(sys.executable).parent / "conveyor")
ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "http://127.0.0.1:*"
START_TIMEOUT = 30.0
EXIT_TIMEOUT = 20.0

Start = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def start() -> Iterator[Start]:
    started: list[subprocess.Popen[str]] = []

    def run(*args: str) -> subprocess.Popen[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
        process = subprocess.Popen(
            [CONVEYOR, *args],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    yield run
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate()


def terminate(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=EXIT_TIMEOUT)
    return process.returncode, out + err


def completed(app: Conveyor, task_id: str) -> Callable[[], Task | None]:
    def check() -> Task | None:
        task = app.get(task_id)
        return task if task.status is Status.COMPLETED else None

    return check


def serving(process: subprocess.Popen[str], url: str) -> Callable[[], bool]:
    def check() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"exited early:\n{process.communicate()}")
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    return check


def test_conveyor_server_delivers_a_target_configured_over_its_api(
    start: Start, store_url: str, receiver: Callable[..., Receiver]
) -> None:
    hook = receiver()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start("server", "--url", store_url, "--port", str(port), "--push-allow", LOOPBACK)
    wait_until(serving(server, url), timeout=START_TIMEOUT, interval=0.05)

    with httpx.Client(base_url=url, timeout=10) as client:
        patched = client.patch(f"{API}/queues/hooks", json={"target": hook.url + "/{type}"})
        assert patched.status_code == 200, patched.text
        accepted = client.post(
            f"{API}/tasks", json={"type": "notify", "queue": "hooks", "payload": {"to": "ada"}}
        )
        assert accepted.status_code == 202, accepted.text
        task_id = accepted.json()["task_id"]

        def done() -> bool:
            return client.get(f"{API}/tasks/{task_id}").json()["status"] == "completed"

        wait_until(done, timeout=20, message="the push to complete")

    assert [json.loads(a.body) for a in hook.at("/notify")] == [{"to": "ada"}]
    code, output = terminate(server)
    assert code == 0, output
    assert "Traceback" not in output


def test_conveyor_dev_runs_a_dispatcher(
    start: Start, tmp_path: Path, receiver: Callable[..., Receiver]
) -> None:
    hook = receiver()
    store_url = f"sqlite:///{tmp_path}/dev.db"
    app = Conveyor(store_url, push_allow=LOOPBACK)
    app.migrate()
    app.queue("hooks", target=hook.url + "/dev")
    handle = app.enqueue("notify", queue="hooks", kwargs={"n": 1})
    port = free_port()
    dev = start("dev", "--url", store_url, "--port", str(port), "--push-allow", LOOPBACK)

    wait_until(completed(app, handle.id), timeout=START_TIMEOUT)

    assert len(hook.at("/dev")) == 1
    code, output = terminate(dev)
    assert code == 0, output
    app.close()


def test_conveyor_dispatcher_finishes_a_request_in_flight_on_sigterm(
    start: Start, store_url: str, receiver: Callable[..., Receiver]
) -> None:
    hook = receiver(
        lambda a, n: Reply(200, b'{"done": 1}', {"content-type": "application/json"}, delay=1.5)
    )
    app = Conveyor(store_url, push_allow=LOOPBACK)
    app.queue("hooks", target=hook.url + "/slow")
    handle = app.enqueue("notify", queue="hooks", kwargs={})
    dispatcher = start("dispatcher", "--url", store_url, "--push-allow", LOOPBACK)

    wait_until(lambda: hook.at("/slow"), timeout=START_TIMEOUT, message="the request to arrive")
    code, output = terminate(dispatcher)

    assert code == 0, output
    task = app.get(handle.id)
    assert task.status is Status.COMPLETED
    assert task.result == {"done": 1}
    assert len(hook.at("/slow")) == 1
    app.close()
