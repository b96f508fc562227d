"""Log setup for long-running commands: one line per event, task fields appended."""

from __future__ import annotations

import json
import logging

TASK_FIELDS = ("task_id", "task_name", "queue", "attempt")


class HumanFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = " ".join(f"{k}={getattr(record, k)}" for k in TASK_FIELDS if hasattr(record, k))
        return f"{line} [{extra}]" if extra else line


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **{k: getattr(record, k) for k in TASK_FIELDS if hasattr(record, k)},
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def setup(level: str = "info", fmt: str = "human") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JSONFormatter() if fmt == "json" else HumanFormatter())
    root = logging.getLogger("conveyor")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
