"""SIGKILL of `conveyor server` while clients enqueue over HTTP at full rate: every task
answered 202 is in the store afterwards, whole, and nothing half-written is there.

Clients post without pause from several threads; the server is killed every two
seconds of load and a new one started. A request cut by the kill is "in doubt": it may
or may not be stored (it was never acknowledged), but if stored it must be whole.
Recovery time of a kill: from the SIGKILL to the first 202 from the new server.
"""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from conveyor import Conveyor, Status
from tests.api.conftest import API
from tests.torture import sizes
from tests.torture.conftest import Record
from tests.torture.processes import ServerProcess
from tests.torture.results import Result

CLIENTS = 8
KILL_EVERY = 2.0


@dataclass
class Load:
    url: str
    accepted: dict[str, str] = field(default_factory=dict)  # key -> task id
    accepted_at: list[tuple[float, str]] = field(default_factory=list)  # (when, server URL)
    in_doubt: set[str] = field(default_factory=set)
    unexpected: list[str] = field(default_factory=list)  # answers other than 202
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, name: str) -> None:
        sent = 0
        with httpx.Client(timeout=10) as http:
            while not self.stop.is_set():
                key = f"{name}-{sent}"
                sent += 1
                url = self.url
                try:
                    response = http.post(f"{url}{API}/tasks", json={"type": "run", "args": [key]})
                except httpx.ConnectError:
                    time.sleep(0.01)  # nothing listens yet, so nothing was sent; try again
                    continue
                except httpx.TransportError:
                    with self.lock:
                        self.in_doubt.add(key)
                    time.sleep(0.01)  # the server is down; try the next one
                    continue
                with self.lock:
                    if response.status_code != 202:
                        self.unexpected.append(f"{response.status_code} {response.text}")
                        continue
                    self.accepted[key] = response.json()["task_id"]
                    self.accepted_at.append((time.monotonic(), url))


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.kill()


def start(store_url: str, servers: list[ServerProcess], folder: Path) -> ServerProcess:
    server = ServerProcess(store_url, folder / f"server-{len(servers)}.log")
    servers.append(server)
    server.wait_until_serving()
    return server


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigkilled_server_loses_no_acknowledged_task(
    app: Conveyor,
    store_url: str,
    servers: list[ServerProcess],
    tmp_path: Path,
    size: sizes.Sizes,
    record: Record,
    backend: str,
) -> None:
    load = Load(start(store_url, servers, tmp_path).url)
    clients = [
        threading.Thread(target=load.client, args=(f"c{i}",), daemon=True) for i in range(CLIENTS)
    ]
    for client in clients:
        client.start()
    kills: list[float] = []
    urls: list[str] = []  # the server started after each kill
    ends = time.monotonic() + size.http_seconds
    while time.monotonic() < ends:
        time.sleep(KILL_EVERY / 2)  # load runs between kills: the pace of the test, not a wait
        servers[-1].process.send_signal(signal.SIGKILL)
        kills.append(time.monotonic())
        servers[-1].process.wait(10)
        load.url = start(store_url, servers, tmp_path).url
        urls.append(load.url)
        time.sleep(KILL_EVERY / 2)
    load.stop.set()
    for client in clients:
        client.join(30)

    stored = all_tasks(app)
    lost = [key for key, task_id in load.accepted.items() if stored.get(task_id) != key]
    known = set(load.accepted) | load.in_doubt
    strays = [task_id for task_id, key in stored.items() if key not in known]
    record(
        Result(
            scenario="SIGKILL server during HTTP enqueue",
            backend=backend,
            load=f"{len(load.accepted):,} tasks accepted, {CLIENTS} clients",
            faults=f"{len(kills)} SIGKILL(s), {len(load.in_doubt)} requests cut",
            lost=len(lost),
            duplicates=len(stored) - len(set(stored.values())),
            stuck=len(strays),
            recoveries=recoveries(kills, urls, sorted(load.accepted_at)),
        )
    )
    assert load.unexpected == [], load.unexpected[:5]
    assert lost == [], f"{len(lost)} acknowledged task(s) missing or changed"
    assert strays == [], "a stored task matches no request"
    assert len(kills) >= 1
    if backend == "sqlite":
        assert integrity(store_url) == "ok"


def all_tasks(app: Conveyor) -> dict[str, str]:
    """Every stored task as id -> key, checking each is whole."""
    found: dict[str, str] = {}
    cursor = None
    while True:
        page = app.list_tasks(limit=1000, cursor=cursor)
        for task in page.tasks:
            assert task.name == "run" and task.status is Status.QUEUED, task
            assert len(task.args) == 1 and isinstance(task.args[0], str), task
            found[task.id] = task.args[0]
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


def recoveries(
    kills: list[float], urls: list[str], accepted_at: list[tuple[float, str]]
) -> list[float]:
    """For each kill, the time to the first 202 from the server started after it."""
    out = []
    for killed, url in zip(kills, urls, strict=True):
        after = [t for t, by in accepted_at if by == url]
        if after:
            out.append(after[0] - killed)
    return out


def integrity(store_url: str) -> str:
    with sqlite3.connect(store_url.removeprefix("sqlite:///")) as conn:
        row = conn.execute("PRAGMA integrity_check").fetchone()
    return str(row[0])
