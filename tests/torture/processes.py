"""Worker processes for the torture suite: any app, extra environment (e.g. a faked
clock), any store URL. Judged, like the crash tests' workers, by store state and the sink."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.apps.sink import SinkFile
from tests.crash.conftest import CONVEYOR, ROOT, WorkerProcess

TORTURE_APP = "tests.torture.app:app"


class TortureWorker(WorkerProcess):
    def __init__(
        self,
        url: str,
        sink: SinkFile,
        log: Path,
        options: list[str],
        app: str = TORTURE_APP,
        env: dict[str, str] | None = None,
    ) -> None:
        self.log_path = log
        environment = {
            **os.environ,
            "CONVEYOR_URL": url,
            "CONVEYOR_SINK": str(sink.path),
            **(env or {}),
        }
        command = [CONVEYOR, "worker", app, "--url", url, "--log-level", "debug", *options]
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT
            )
