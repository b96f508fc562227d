"""FastAPI doing none of Conveyor's work: the HTTP floor for bench/floors.py.

The same two enqueue routes as `conveyor server` (paths, body models with their
validators, a scope dependency, a 202 answer of the same shape), served by uvicorn with
the server's settings, but nothing is stored: what a client reaches against it is what
FastAPI and uvicorn allow on this machine before any store work.

    .venv/bin/python bench/floor_api.py PORT
"""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime

from fastapi import Depends, FastAPI, Request, Response

from conveyor.api.schemas import BatchAccepted, BatchIn, TaskAccepted, TaskIn

api = FastAPI()


async def allowed(request: Request) -> None:
    """A scope check as cheap as the server's with no tokens configured."""


def accepted() -> TaskAccepted:
    return TaskAccepted(task_id=str(uuid.uuid4()), status="queued", created_at=datetime.now(UTC))


@api.post("/api/v1/tasks", status_code=202, dependencies=[Depends(allowed)])
async def submit(body: TaskIn, request: Request) -> Response:
    return Response(accepted().model_dump_json(), 202, media_type="application/json")


@api.post("/api/v1/tasks/batch", status_code=202, dependencies=[Depends(allowed)])
async def submit_batch(body: BatchIn, request: Request) -> Response:
    out = BatchAccepted(tasks=[accepted() for _ in body.tasks])
    return Response(out.model_dump_json(), 202, media_type="application/json")


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(api, host="127.0.0.1", port=int(sys.argv[1]), log_config=None, access_log=False)
