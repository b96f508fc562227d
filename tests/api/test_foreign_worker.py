"""The Node.js worker in examples/foreign-worker works tasks over real HTTP."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conveyor import Conveyor, Status
from tests.api.conftest import StartServer, submit

WORKER = Path(__file__).resolve().parents[2] / "examples" / "foreign-worker" / "worker.mjs"
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None and os.environ.get("CI") != "true", reason="needs Node.js")
@pytest.mark.timeout(60)
def test_node_worker_leases_works_and_completes(app: Conveyor, start_server: StartServer) -> None:
    assert NODE is not None, "CI needs Node.js for the foreign worker example"
    server = start_server(tokens="node-token:work,producer:enqueue+read")
    producer = server.client("producer")
    resized = [
        submit(producer, "resize", queue="images", payload={"w": w, "h": 10})["task_id"]
        for w in (1, 2, 3)
    ]
    unknown = submit(producer, "crop", queue="images", payload={})["task_id"]

    env = {
        **os.environ,
        "CONVEYOR_API": server.url,
        "CONVEYOR_TOKEN": "node-token",
        "MAX_TASKS": "4",
    }
    done = subprocess.run(
        [NODE, str(WORKER), "images"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=45,
    )
    assert done.returncode == 0, done.stderr

    for task_id, width in zip(resized, (1, 2, 3), strict=True):
        task = app.get(task_id)
        assert task.status is Status.COMPLETED
        assert task.result == {"pixels": width * 10}
        assert task.worker_id is not None and task.worker_id.startswith("node-")
    crop = app.get(unknown)
    assert crop.status is Status.FAILED
    assert "no handler for type crop" in crop.errors[-1]["error"]
