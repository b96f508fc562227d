"""What routes receive: the Conveyor and the announcer, from the app's lifespan state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from conveyor.api.announcer import Announcer
from conveyor.app import Conveyor


def _conveyor(request: Request) -> Conveyor:
    app: Conveyor = request.app.state.conveyor
    return app


def _announcer(request: Request) -> Announcer:
    announcer: Announcer = request.app.state.announcer
    return announcer


App = Annotated[Conveyor, Depends(_conveyor)]
Wakeups = Annotated[Announcer, Depends(_announcer)]
