"""The worker registry's rows, read and written the same way by both backends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conveyor.core import payload
from conveyor.core.workers import NewWorker, WorkerInfo
from conveyor.store.rows import to_datetime


def worker_params(worker: NewWorker) -> dict[str, Any]:
    return {
        "id": worker.id,
        "host": worker.host,
        "pid": worker.pid,
        "queues": payload.dumps(list(worker.queues)),
        "concurrency": worker.concurrency,
        "heartbeat_seconds": worker.heartbeat_seconds,
    }


def worker_from_row(row: Mapping[str, Any]) -> WorkerInfo:
    queues = row["queues"]
    started_at = to_datetime(row["started_at"])
    last_seen = to_datetime(row["last_seen"])
    assert started_at is not None and last_seen is not None
    return WorkerInfo(
        id=row["id"],
        host=row["host"],
        pid=int(row["pid"]),
        queues=tuple(payload.loads(queues) if isinstance(queues, str) else queues),
        concurrency=int(row["concurrency"]),
        in_flight=int(row["in_flight"]),
        heartbeat_seconds=float(row["heartbeat_seconds"]),
        started_at=started_at,
        last_seen=last_seen,
        stopped_at=to_datetime(row["stopped_at"]),
        alive=bool(row["alive"]),
    )
