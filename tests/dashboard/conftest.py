"""Browser tests drive Debian's Chromium (never a Playwright download) against a real
`conveyor dev` process on a free port: API, dashboard and worker on this test's store.

Screenshots go to $CONVEYOR_ARTIFACTS when set, else under pytest's temporary directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.api.conftest import app, free_port, start_server  # noqa: F401 - in-process servers
from tests.apps.fixtures import sink  # noqa: F401 - the sink every dev process records in
from tests.apps.sink import SinkFile
from tests.waiting import wait_until

CHROMIUM = "/usr/bin/chromium"
CONVEYOR = str(Path(sys.executable).with_name("conveyor"))
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
LAPTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


@dataclass
class DevServer:
    """`conveyor dev` with the dashboard test app, as a child process."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    _clients: list[httpx.Client] = field(default_factory=list)

    def api(self) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=10)
        self._clients.append(client)
        return client

    def submit(self, type: str, **fields: Any) -> str:
        response = self.api().post("/api/v1/tasks", json={"type": type, **fields})
        assert response.status_code == 202, response.text
        task_id: str = response.json()["task_id"]
        return task_id

    def status(self, task_id: str) -> str:
        response = self.api().get(f"/api/v1/tasks/{task_id}")
        assert response.status_code == 200, response.text
        status: str = response.json()["status"]
        return status

    def stop(self) -> None:
        for client in self._clients:
            client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)


def start_dev(store_url: str, sink: SinkFile, folder: Path, tokens: str | None = None) -> DevServer:
    port = free_port()
    log = folder / f"dev-{port}.log"
    command = [
        CONVEYOR, "dev",
        "--app", "tests.dashboard.app:app",
        "--url", store_url,
        "--port", str(port),
        "--log-level", "warning",
    ]  # fmt: skip
    if tokens:
        command += ["--tokens", tokens]
    env = {**os.environ, "CONVEYOR_SINK": str(sink.path), "CONVEYOR_URL": store_url}
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    server = DevServer(f"http://127.0.0.1:{port}", process, log)

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"conveyor dev exited early:\n{log.read_text()}")
        try:
            return httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(ready, timeout=START_TIMEOUT, interval=0.05, message="conveyor dev to answer")
    return server


@pytest.fixture
def dev(store_url: str, sink: SinkFile, tmp_path: Path) -> Iterator[DevServer]:
    server = start_dev(store_url, sink, tmp_path)
    yield server
    server.stop()


# Package scope, not session: sync Playwright keeps an event loop running in this thread
# while it is open, and tests after this folder call asyncio.run().
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        message = f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    # Root in a container has no user namespace for Chromium's sandbox.
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    yield launched
    launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A laptop-sized page in light mode that fails the test on any dialog or page error."""
    context = browser.new_context(viewport=LAPTOP, color_scheme="light")
    opened = context.new_page()
    problems: list[str] = []
    opened.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    opened.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    opened.set_default_timeout(10_000)
    yield opened
    context.close()
    assert not problems, problems


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("CONVEYOR_ARTIFACTS")
    folder = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
