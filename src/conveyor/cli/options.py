"""Options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from conveyor.app import Conveyor

F = TypeVar("F", bound=Callable[..., Any])

url_option = click.option(
    "--url",
    envvar="CONVEYOR_URL",
    default=None,
    help="Store URL: sqlite:///file.db or postgresql://user@host/db (env CONVEYOR_URL).",
)


def client(url: str | None) -> Conveyor:
    """The Conveyor for this command; its store is closed when the command ends."""
    app = Conveyor(url)
    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(app.close)
    return app
