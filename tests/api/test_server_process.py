"""`conveyor server` as a real process: it serves, and SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conveyor import Conveyor
from tests.api.conftest import API, free_port
from tests.waiting import wait_until

CONVEYOR = str(Path(sys.executable).parent / "conveyor")
START_TIMEOUT = 30.0
EXIT_TIMEOUT = 15.0


class ServerProcess:
    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = {
            k: v for k, v in os.environ.items() if k not in {"CONVEYOR_API_TOKENS", "CONVEYOR_URL"}
        }
        self.process = subprocess.Popen(
            [CONVEYOR, "server", "--port", str(self.port), *args],
            env={**environment, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_until_serving(self) -> None:
        def serving() -> bool:
            if self.process.poll() is not None:
                out, err = self.process.communicate()
                raise AssertionError(f"conveyor server exited early:\n{out}\n{err}")
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(serving, timeout=START_TIMEOUT, interval=0.05, message="conveyor server")

    def terminate(self) -> tuple[int, str, str]:
        """SIGTERM, then (exit code, stdout, stderr)."""
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=EXIT_TIMEOUT)
        return self.process.returncode, out, err

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


@pytest.fixture
def start_process() -> Iterator[Any]:
    started: list[ServerProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> ServerProcess:
        server = ServerProcess(*args, env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


def test_serves_then_exits_cleanly_on_sigterm(start_process: Any, store_url: str) -> None:
    server = start_process("--url", store_url)
    server.wait_until_serving()

    with httpx.Client(base_url=server.url, timeout=10) as client:
        accepted = client.post(f"{API}/tasks", json={"type": "hello", "payload": {"n": 1}})
        assert accepted.status_code == 202, accepted.text
        task_id = accepted.json()["task_id"]
        assert client.get(f"{API}/tasks/{task_id}").json()["status"] == "queued"
        assert client.get("/readyz").status_code == 200

    code, out, err = server.terminate()
    assert code == 0, f"exit code {code}\n{out}\n{err}"
    assert "Traceback" not in out + err

    # What was accepted is in the store after the server is gone.
    app = Conveyor(store_url)
    try:
        assert app.get(task_id).kwargs == {"n": 1}
    finally:
        app.close()


def test_sigterm_during_a_waiting_lease_still_exits(start_process: Any, store_url: str) -> None:
    server = start_process("--url", store_url)
    server.wait_until_serving()
    answered: dict[str, Any] = {}

    def wait_for_lease() -> None:
        try:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                answered["response"] = client.post(
                    f"{API}/queues/default/lease", json={"wait_seconds": 3}
                )
        except httpx.TransportError as exc:
            answered["error"] = exc

    waiter = threading.Thread(target=wait_for_lease)
    waiter.start()
    time.sleep(0.5)  # no hook into another process: give the request time to start waiting
    started = time.monotonic()
    code, out, err = server.terminate()
    waiter.join(EXIT_TIMEOUT)
    assert code == 0, f"exit code {code}\n{out}\n{err}"
    assert time.monotonic() - started < EXIT_TIMEOUT
    if "response" in answered:
        assert answered["response"].json() == {"tasks": []}


def test_tokens_come_from_the_environment(start_process: Any, store_url: str) -> None:
    server = start_process("--url", store_url, env={"CONVEYOR_API_TOKENS": "p:enqueue"})
    server.wait_until_serving()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.post(f"{API}/tasks", json={"type": "x"}).status_code == 401
        authorized = {"Authorization": "Bearer p"}
        response = client.post(f"{API}/tasks", json={"type": "x"}, headers=authorized)
        assert response.status_code == 202
        assert client.get(f"{API}/tasks", headers=authorized).status_code == 403
    code, _, err = server.terminate()
    assert code == 0, err


def test_refuses_to_listen_beyond_loopback_without_tokens(
    start_process: Any, tmp_path: Path
) -> None:
    server = start_process("--url", f"sqlite:///{tmp_path}/x.db", "--host", "0.0.0.0")
    out, err = server.process.communicate(timeout=START_TIMEOUT)
    assert server.process.returncode == 1
    message = " ".join((out + err).split())
    assert "refusing to listen on 0.0.0.0" in message
    assert "CONVEYOR_API_TOKENS" in message
    assert "--allow-unauthenticated" in message


def children_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def test_workers_serve_one_port_and_stop_together(start_process: Any, store_url: str) -> None:
    server = start_process("--url", store_url, "--workers", "2")
    server.wait_until_serving()
    processes = children_of(server.process.pid)
    assert len(processes) == 2

    with httpx.Client(base_url=server.url, timeout=10) as client:
        ids = [
            client.post(f"{API}/tasks", json={"type": "hello", "payload": {"n": n}}).json()[
                "task_id"
            ]
            for n in range(20)
        ]
    code, out, err = server.terminate()
    assert code == 0, f"exit code {code}\n{out}\n{err}"
    assert "Traceback" not in out + err
    assert "in 2 processes" in out
    assert not any(Path(f"/proc/{pid}").exists() for pid in processes)

    app = Conveyor(store_url)
    try:
        assert sorted(app.get(i).kwargs["n"] for i in ids) == list(range(20))
    finally:
        app.close()


def test_workers_stop_together_when_one_dies(start_process: Any, store_url: str) -> None:
    server = start_process("--url", store_url, "--workers", "2")
    server.wait_until_serving()
    first, second = children_of(server.process.pid)

    os.kill(first, signal.SIGKILL)

    server.process.communicate(timeout=EXIT_TIMEOUT)
    assert server.process.returncode != 0
    wait_until(lambda: not Path(f"/proc/{second}").exists(), timeout=EXIT_TIMEOUT)
