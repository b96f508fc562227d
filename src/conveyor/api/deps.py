"""What routes receive: the Conveyor, the announcer, and the path and query values they share."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request

from conveyor.api.announcer import Announcer
from conveyor.api.schemas import NO_NUL
from conveyor.app import Conveyor

# Dependencies that do no I/O are coroutines: FastAPI runs a plain function dependency
# in its thread pool, a thread hop per dependency per request.


def conveyor_of(request: Request) -> Conveyor:
    """The Conveyor, for the enqueue routes: FastAPI solving `App` for each request cost
    about a tenth of a single submit's CPU."""
    app: Conveyor = request.app.state.conveyor
    return app


async def _conveyor(request: Request) -> Conveyor:
    return conveyor_of(request)


async def _announcer(request: Request) -> Announcer:
    announcer: Announcer = request.app.state.announcer
    return announcer


App = Annotated[Conveyor, Depends(_conveyor)]
Wakeups = Annotated[Announcer, Depends(_announcer)]

QueueName = Annotated[str, Path(min_length=1, max_length=200, pattern=NO_NUL)]
TaskId = Annotated[str, Path(min_length=1, max_length=200, pattern=NO_NUL)]
Cursor = Annotated[
    str | None,
    Query(
        max_length=18,
        pattern=r"^[0-9]+$",
        description="The `next_cursor` of the previous page.",
    ),
]
