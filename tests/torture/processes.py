"""Worker processes for the torture suite: any app, extra environment (e.g. a faked
clock), any store URL. Judged, like the crash tests' workers, by store state and the sink."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.api import test_server_process as api_servers
from tests.api.conftest import free_port
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


class ServerProcess(api_servers.ServerProcess):
    """`conveyor server --url URL` with its output in a log file: a pipe nobody reads
    could fill and stall a server under load, and a killed one would leave it open."""

    def __init__(self, url: str, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        environment = {
            k: v for k, v in os.environ.items() if k not in {"CONVEYOR_API_TOKENS", "CONVEYOR_URL"}
        }
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [CONVEYOR, "server", "--port", str(self.port), "--url", url],
                cwd=ROOT,
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
