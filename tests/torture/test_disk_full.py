"""SQLite on a full disk: enqueue fails with a clear error (a 503 over HTTP), nothing
stored is corrupted, and work resumes once there is space again.

The store lives on a tmpfs of a few megabytes, which a ballast file then fills, so
SQLite really gets ENOSPC (SQLITE_FULL) from the kernel. Recovery time: from the
ballast's removal to the first task completed after it.
"""

from __future__ import annotations

import contextlib
import errno
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor import Conveyor
from conveyor.api.auth import Tokens
from conveyor.errors import ConveyorError
from tests.api.conftest import API, LiveServer
from tests.apps.sink import SinkFile
from tests.torture import sizes
from tests.torture.conftest import Record, StartTortureWorker
from tests.torture.results import Result
from tests.waiting import wait_until

DISK = "16m"
CHUNK = 64 * 1024


@pytest.fixture
def small_disk() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="conveyor-disk-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)
    folder.rmdir()


@pytest.fixture
def store_url(small_disk: Path) -> str:
    """This module's store is a SQLite file on the small disk."""
    url = f"sqlite:///{small_disk}/conveyor.db"
    Conveyor(url).close()
    migrated = Conveyor(url)
    migrated.migrate()
    migrated.close()
    return url


HTTP_BATCH = 1000


def fill(folder: Path) -> Path:
    """Write a ballast file until the disk refuses more."""
    ballast = folder / "ballast"
    with ballast.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * CHUNK)
                out.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return ballast


def completed(app: Conveyor) -> int:
    with contextlib.suppress(ConveyorError):
        counts = {s.queue: s.counts for s in app.stats()}.get("default", {})
        return counts.get("completed", 0)
    return -1


def integrity(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_full_disk_refuses_enqueues_clearly_and_resumes(
    app: Conveyor,
    sink: SinkFile,
    start_worker: StartTortureWorker,
    small_disk: Path,
    size: sizes.Sizes,
    record: Record,
    backend: str,
) -> None:
    worker = start_worker(concurrency=8)
    first = app.enqueue_many({"name": "run", "args": [f"a{i}"]} for i in range(size.disk_tasks))
    wait_until(lambda: completed(app) == len(first), timeout=60, message="the first batch done")

    ballast = fill(small_disk)
    refusals = []
    for i in range(20):
        try:
            app.enqueue_many({"name": "run", "args": [f"full{i}-{j}"]} for j in range(200))
        except Exception as exc:
            refusals.append(exc)
    assert refusals, "the full disk took every enqueue"
    for refusal in refusals:
        assert isinstance(refusal, ConveyorError), repr(refusal)
        assert "full" in str(refusal), str(refusal)
    # A small write can still land in WAL pages SQLite already owns, so keep posting
    # batches until the disk says no; whatever was answered 202 must be stored and run.
    server = LiveServer(app, Tokens.parse(None)).start()
    answers = []
    try:
        for k in range(10):
            tasks = [{"type": "run", "args": [f"http{k}-{j}"]} for j in range(HTTP_BATCH)]
            answers.append(server.client().post(f"{API}/tasks/batch", json={"tasks": tasks}))
            if answers[-1].status_code != 202:
                break
    finally:
        server.stop()
    refused = answers[-1]
    assert refused.status_code == 503, refused.text
    assert "database or disk is full" in refused.json()["error"]["message"]
    http_stored = HTTP_BATCH * (len(answers) - 1)
    assert integrity(small_disk / "conveyor.db") == "ok"

    ballast.unlink()
    freed = time.monotonic()
    second = app.enqueue_many({"name": "run", "args": [f"b{i}"]} for i in range(size.disk_tasks))
    before = completed(app)
    wait_until(
        lambda: completed(app) > before, timeout=60, message="progress after space came back"
    )
    recovery_time = time.monotonic() - freed
    stored_full = 200 * (20 - len(refusals))
    total = len(first) + len(second) + stored_full + http_stored
    wait_until(lambda: completed(app) == total, timeout=60, message="every stored task done")
    runs = sink.run_counts()
    record(
        Result(
            scenario="SQLite on a full disk",
            backend=backend,
            load=f"{total:,} tasks on a {DISK.removesuffix('m')} MB tmpfs",
            faults=f"disk full, {len(refusals)} enqueues refused",
            lost=sum(1 for h in [*first, *second] if app.get(h.id).status.value != "completed"),
            duplicates=sum(n - 1 for n in runs.values()),
            stuck=len(app.list_tasks(status="running").tasks),
            recoveries=[recovery_time],
        )
    )
    assert integrity(small_disk / "conveyor.db") == "ok"
    assert worker.alive(), worker.log()
